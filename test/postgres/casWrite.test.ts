// The PostgreSQL target's batch write (casWrite) on its own, against the real server. A batch is first
// tried with an UPDATE that only counts the rows it wrote; when that is fewer than the batch, the attempt
// is rolled back and the batch is done again with an UPDATE that says which rows it wrote. These tests pin
// the outcomes and the table's state on both paths, the switch between them, rows changed by another
// session while the batch waits for their lock, and the catalog check on a connection that has already
// written a batch (BEGIN, lock and catalog then go in one round trip).
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import pg from 'pg';
import type { PostgresTarget } from '../../daemon/targets/postgres';
import type { CasWrite, Scan, StoredRow, TableSchema } from '../../daemon/targets/target';
import { pgSchema, type PgSchema } from '../helpers/pg';

let s: PgSchema;

beforeEach(async () => {
  s = await pgSchema('cas');
});
afterEach(async () => {
  await s?.drop();
});

const noHash = (): string => {
  throw new Error('server-side tokens never need hashRow');
};

/** The table's rows read through the target, and writes that lower-case `email` on the rows with these ids. */
async function setup(t: PostgresTarget, table = 'people'): Promise<{ scan: Scan; schema: TableSchema; writesFor(ids: number[]): CasWrite[] }> {
  const scan: Scan = { table, key: ['id'], correctionId: 'lower-email' };
  const schema = await t.tableSchema(table);
  const rows = await t.readRange(scan, schema, null, 1000);
  const before = t.rowTokens(schema, rows);
  const afters = rows.map((r) => ({ ...r, email: String(r.email).toLowerCase() }) as StoredRow);
  const done = t.rowTokens(schema, afters);
  const byId = new Map(rows.map((r, i) => [Number(r.id), { key: [r.id!], expectHash: before[i]!, doneHash: done[i]!, set: { email: afters[i]!.email } } satisfies CasWrite]));
  return { scan, schema, writesFor: (ids) => ids.map((id) => byId.get(id)!) };
}

async function emails(table = 'people'): Promise<Map<number, string>> {
  const r = await s.sql(`SELECT id::int AS id, email FROM ${table} ORDER BY id`);
  return new Map(r.rows.map((x) => [x.id as number, x.email as string]));
}

async function people(n: number): Promise<void> {
  await s.sql(`CREATE TABLE people (id int8 PRIMARY KEY, email text NOT NULL, note text)`);
  await s.sql(`INSERT INTO people SELECT i, 'Person' || i || '@Example.COM', NULL FROM generate_series(1, ${n}) i`);
}

test('a batch of written, drifted, missing and already-written rows: exact outcomes, and nothing of the counting attempt is left', async () => {
  await people(8);
  const t = await s.target();
  const { scan, schema, writesFor } = await setup(t);
  await s.sql(`UPDATE people SET email = 'Changed@Elsewhere' WHERE id = 2`); // drifted
  await s.sql(`DELETE FROM people WHERE id = 3`); // missing
  await s.sql(`UPDATE people SET email = lower(email) WHERE id = 4`); // already in the after-state
  await s.sql(`UPDATE people SET note = '' WHERE id = 6`); // another column changed: drifted ('' is not NULL)
  const out = await t.casWrite(scan, schema, writesFor([1, 2, 3, 4, 5, 6, 7]), noHash);
  assert.deepEqual(out, ['written', 'drifted', 'missing', 'already', 'written', 'drifted', 'written']);
  const e = await emails();
  assert.equal(e.get(1), 'person1@example.com');
  assert.equal(e.get(2), 'Changed@Elsewhere', 'a drifted row keeps the other session’s value');
  assert.equal(e.has(3), false);
  assert.equal(e.get(4), 'person4@example.com');
  assert.equal(e.get(6), 'Person6@Example.COM');
  assert.equal(e.get(8), 'Person8@Example.COM', 'a row not in the batch is untouched');
  // Each row was written once, by the transaction that committed: the counting attempt was rolled back.
  const versions = await s.sql(`SELECT count(*)::int AS n FROM people WHERE xmin = (SELECT xmin FROM people WHERE id = 1)`);
  assert.equal(versions.rows[0]!.n, 3, 'rows 1, 5 and 7 were written by one transaction');
});

test('a replayed batch finds its rows already written; the next batch is counted again and written', async () => {
  await people(30);
  const t = await s.target({ maxConnections: 1 });
  const { scan, schema, writesFor } = await setup(t);
  const ids = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
  assert.deepEqual(await t.casWrite(scan, schema, writesFor(ids(1, 10)), noHash), Array(10).fill('written'));
  assert.deepEqual(await t.casWrite(scan, schema, writesFor(ids(1, 10)), noHash), Array(10).fill('already'), 'replay');
  // After a batch that was not all written, the next goes straight to the classifying UPDATE; a clean
  // batch there switches back to counting. Both give the same outcomes.
  assert.deepEqual(await t.casWrite(scan, schema, writesFor(ids(11, 20)), noHash), Array(10).fill('written'));
  assert.deepEqual(await t.casWrite(scan, schema, writesFor(ids(21, 30)), noHash), Array(10).fill('written'));
  const e = await emails();
  for (const [id, email] of e) assert.equal(email, `person${id}@example.com`);
});

test('a row another session changes while the batch waits for its lock is drifted, and keeps that session’s value', async () => {
  await people(20);
  const t = await s.target();
  const { scan, schema, writesFor } = await setup(t);
  await s.sql('BEGIN');
  await s.sql(`UPDATE people SET email = 'Other@Session' WHERE id = 7`);
  const pending = t.casWrite(scan, schema, writesFor(Array.from({ length: 20 }, (_, i) => i + 1)), noHash);
  // Wait until the batch's UPDATE waits for row 7's lock, then commit the other session's change under it.
  const watcher = new pg.Client({ connectionString: s.url });
  await watcher.connect();
  let waited = false;
  for (let i = 0; i < 250 && !waited; i++) {
    const w = await watcher.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND application_name = 'redress' AND datname = current_database()`);
    waited = w.rows[0]!.n > 0;
    if (!waited) await new Promise((r) => setTimeout(r, 20));
  }
  await watcher.end();
  await s.sql('COMMIT');
  assert.ok(waited, 'the batch waited for the row lock');
  const out = await pending;
  assert.equal(out[6], 'drifted');
  assert.equal(out.filter((o) => o === 'written').length, 19);
  const e = await emails();
  assert.equal(e.get(7), 'Other@Session', 'not overwritten');
  assert.equal(e.get(8), 'person8@example.com');
});

test('the catalog check on a connection that already wrote a batch: ALTER TABLE between batches is a SCHEMA_DRIFT, nothing written', async () => {
  await people(10);
  const t = await s.target({ maxConnections: 1 });
  const { scan, schema, writesFor } = await setup(t);
  assert.deepEqual(await t.casWrite(scan, schema, writesFor([1, 2]), noHash), ['written', 'written']);
  assert.deepEqual(await t.casWrite(scan, schema, writesFor([3, 4]), noHash), ['written', 'written']);
  await s.sql(`ALTER TABLE people ALTER COLUMN note TYPE varchar(50)`);
  await assert.rejects(t.casWrite(scan, schema, writesFor([5, 6]), noHash), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'SCHEMA_DRIFT');
    assert.match(err.message, /column "note" changed type from text to character varying\(50\)/);
    return true;
  });
  assert.equal((await emails()).get(5), 'Person5@Example.COM');
});

test('a table whose name needs quoting (quote, backslash, space) is written on every batch of one connection', async () => {
  const table = `we"ird\\ ta'ble`;
  const qt = '"' + table.replace(/"/g, '""') + '"';
  await s.sql(`CREATE TABLE ${qt} (id int8 PRIMARY KEY, email text NOT NULL)`);
  await s.sql(`INSERT INTO ${qt} SELECT i, 'P' || i || '@X.COM' FROM generate_series(1, 6) i`);
  const t = await s.target({ maxConnections: 1 });
  const { scan, schema, writesFor } = await setup(t, table);
  for (const ids of [[1, 2], [3, 4], [5, 6]]) assert.deepEqual(await t.casWrite(scan, schema, writesFor(ids), noHash), ['written', 'written']);
  const e = await emails(qt);
  for (const [id, email] of e) assert.equal(email, `p${id}@x.com`);
});
