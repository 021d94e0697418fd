// redress snapshot: a seeded sample of a PostgreSQL table in a local SQLite file (uniform or stratified,
// optional WHERE, masked columns) that records the source schema and fingerprint; a preview on it gives
// the diffs a preview on PostgreSQL gives for the same rows.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { readSnapshotInfo, snapshotRequest, SnapshotTarget } from '../../daemon/targets/snapshot';
import { pgEngine, pgSchema, type PgEngine, type PgSchema } from '../helpers/pg';

let s: PgSchema;
let e: PgEngine;

before(async () => {
  s = await pgSchema('snap');
  await s.sql(`CREATE TYPE tier AS ENUM ('free', 'pro')`);
  await s.sql(`CREATE TABLE customers (
    id int8 PRIMARY KEY, region text NOT NULL, email text, name varchar(40) NOT NULL, phone text,
    balance numeric(12,2), born timestamptz, prefs jsonb, tags text[], level tier, score float8, big int8)`);
  await s.sql(`INSERT INTO customers SELECT i,
      CASE WHEN i % 40 = 1 THEN 'ap' WHEN i % 4 = 1 THEN 'us' ELSE 'eu' END,
      CASE WHEN i % 3 = 0 THEN 'Mixed' || i || '@Example.COM' ELSE 'lower' || i || '@example.com' END,
      'Customer ' || (i % 50), '+1 555 ' || i,
      i * 10.25, '1990-01-01 00:00:00.000001+00'::timestamptz + i * interval '17 days 3 hours 0.5 seconds',
      jsonb_build_object('theme', CASE WHEN i % 2 = 0 THEN 'dark' ELSE 'light' END, 'id', 9007199254740993 + i),
      ARRAY['a' || i, NULL, 'x,y'], CASE WHEN i % 5 = 0 THEN 'pro' ELSE 'free' END::tier, i / 3.0, 9007199254740993 * (i % 3)
    FROM generate_series(1, 400) i`);
  e = await pgEngine(s);
});
after(async () => {
  await e?.close();
  await s?.drop();
});

const TRANSFORM = `transform: (row) => ({
    email: row.email === null ? null : row.email.toLowerCase(),
    balance: (Math.round(Number(row.balance) * 110) / 100).toFixed(2),
    prefs: row.prefs.theme === 'dark' ? { ...row.prefs, contrast: 'high' } : row.prefs,
    tags: row.tags.filter((t) => t !== null),
    born: row.level === 'pro' ? '2000-01-01T00:00:00.000001Z' : row.born,
    score: row.score * 2,
  })`;

const correction = (id: string, extra = '') => `import { defineCorrection } from 'redress';
export default defineCorrection<any>({
  id: '${id}', description: 'tidy customers', target: { table: 'customers', key: 'id' },
  expects: { email: 'text', balance: 'numeric', prefs: 'json', born: 'timestamp' },
  ${extra}
  ${TRANSFORM},
  options: { sampleSize: 1000 },
});`;

test('a uniform snapshot records the source schema and fingerprint, masks the named columns, and is the same for the same seed', async () => {
  const r = await snapshotRequest(e.target, e.dir, { table: 'customers', rows: 50, seed: 7, mask: [{ column: 'name', how: 'hash' }, { column: 'phone', how: 'redact' }] });
  assert.equal(r.path, join(e.dir, '.redress', 'snapshots', 'customers.sqlite'));
  assert.deepEqual([r.rows, r.sourceRows, r.key], [50, 400, ['id']]);
  const live = await e.target.tableSchema('customers');
  const info = readSnapshotInfo(r.path);
  assert.equal(info.schema.fingerprint, live.fingerprint);
  assert.deepEqual(info.schema, live);
  assert.equal(info.types.level!.category, 'E');
  assert.deepEqual(info.types.level!.labels, ['free', 'pro']);

  const snap = new SnapshotTarget(r.path, e.target);
  try {
    const scan = { table: 'customers', key: ['id'] };
    const rows = await snap.readRange(scan, info.schema, null, 1000);
    assert.equal(rows.length, 50);
    const source = await e.target.readKeys(scan, live, rows.map((x) => [x.id!]));
    rows.forEach((row, i) => {
      const src = source[i]!;
      assert.equal(row.phone, null, 'redacted');
      assert.match(row.name as string, /^h:[0-9a-f]{16}$/, 'hashed');
      for (const c of live.columns) if (!['name', 'phone'].includes(c.name)) assert.equal(snap.canonical(c, row[c.name]!), e.target.canonical(c, src[c.name]!), `column ${c.name} is exact`);
    });
    // Equal names hash equal: "Customer 7" appears on several rows.
    const byName = new Map<string, Set<string>>();
    rows.forEach((row, i) => byName.set(source[i]!.name as string, (byName.get(source[i]!.name as string) ?? new Set()).add(row.name as string)));
    assert.ok([...byName.values()].every((h) => h.size === 1));

    const again = await snapshotRequest(e.target, e.dir, { table: 'customers', rows: 50, seed: 7, mask: [], output: 'again.sqlite' });
    const other = await snapshotRequest(e.target, e.dir, { table: 'customers', rows: 50, seed: 8, mask: [], output: 'other.sqlite' });
    const keys = async (p: string) => {
      const t = new SnapshotTarget(p, null);
      const ks = (await t.readRange(scan, info.schema, null, 1000)).map((x) => String(x.id));
      await t.close();
      return ks;
    };
    assert.deepEqual(await keys(again.path), rows.map((x) => String(x.id)), 'same seed, same rows');
    assert.notDeepEqual(await keys(other.path), rows.map((x) => String(x.id)), 'another seed, other rows');
  } finally {
    await snap.close();
  }
});

test('a stratified snapshot represents every value of the column, in proportion, within the WHERE', async () => {
  const r = await snapshotRequest(e.target, e.dir, { table: 'customers', rows: 40, seed: 3, stratifyBy: 'region', where: `level = 'free'`, mask: [], output: 'strat.sqlite' });
  const expectedSource = Number((await s.sql(`SELECT count(*) FROM customers WHERE level = 'free'`)).rows[0]!.count);
  assert.deepEqual([r.rows, r.sourceRows], [40, expectedSource]);
  const snap = new SnapshotTarget(r.path, e.target);
  try {
    const rows = await snap.readRange({ table: 'customers', key: ['id'] }, readSnapshotInfo(r.path).schema, null, 1000);
    const per = new Map<string, number>();
    for (const row of rows) {
      assert.equal(row.level, 'free');
      per.set(row.region as string, (per.get(row.region as string) ?? 0) + 1);
    }
    assert.deepEqual([...per.keys()].sort(), ['ap', 'eu', 'us'], 'every region, even the small one');
    assert.ok(per.get('eu')! > per.get('us')! && per.get('us')! > per.get('ap')!, JSON.stringify([...per]));
    const ids = rows.map((x) => x.id as bigint);
    assert.deepEqual(ids, [...ids].sort((a, b) => (a < b ? -1 : 1)), 'rows are in key order');
  } finally {
    await snap.close();
  }
});

test('a preview on the snapshot gives exactly the diffs a preview on PostgreSQL gives for the same rows', async () => {
  const r = await snapshotRequest(e.target, e.dir, { table: 'customers', rows: 60, seed: 11, mask: [{ column: 'name', how: 'hash' }], output: 'preview.sqlite' });
  const snap = new SnapshotTarget(r.path, null);
  const keys = (await snap.readRange({ table: 'customers', key: ['id'] }, readSnapshotInfo(r.path).schema, null, 1000)).map((x) => String(x.id));
  await snap.close();

  const onSnapshot = await e.engine.preview({ correction: e.correction('tidy-snap', correction('tidy-customers')), params: {}, snapshot: r.path, sampleSize: 1000 });
  const onSource = await e.engine.preview({ correction: e.correction('tidy-db', correction('tidy-customers', `select: { where: 'id IN (${keys.join(', ')})' },`)), params: {}, sampleSize: 1000 });
  assert.equal(onSnapshot.sampleSize, 60);
  assert.equal(onSource.sampleSize, 60);
  assert.ok(onSnapshot.summary.changed > 30, `changed ${onSnapshot.summary.changed}`);
  assert.deepEqual(onSnapshot.summary, onSource.summary);
  assert.deepEqual(onSnapshot.diffs, onSource.diffs);
  // The diffs carry the exact values: numeric text, timestamps with microseconds, jsonb with a big integer.
  const d = onSnapshot.diffs.find((x) => 'born' in x.changes)!;
  assert.deepEqual(d.changes.born!.after, { $text: '2000-01-01 00:00:00.000001+00', $type: 'timestamptz' });
  assert.ok(onSnapshot.diffs.some((x) => /"id": 9007199254741\d{3}/.test((x.changes.prefs?.after as { $json?: string } | undefined)?.$json ?? '')));
});

test('a snapshot whose source table changed since is refused as stale when a value must be checked', async () => {
  const r = await snapshotRequest(e.target, e.dir, { table: 'customers', rows: 20, seed: 1, mask: [], output: 'stale.sqlite' });
  await s.sql(`ALTER TABLE customers ADD COLUMN extra int`);
  try {
    await assert.rejects(
      e.engine.preview({ correction: e.correction('tidy-stale', correction('tidy-customers')), params: {}, snapshot: r.path, sampleSize: 1000 }),
      /snapshot .*stale.*column "extra" was added.*Take a new snapshot/s,
    );
  } finally {
    await s.sql(`ALTER TABLE customers DROP COLUMN extra`);
  }
});

test('masking a key column, an unknown column, or snapshotting a table without a unique key is refused with what to do', async () => {
  await assert.rejects(snapshotRequest(e.target, e.dir, { table: 'customers', rows: 5, seed: 1, mask: [{ column: 'id', how: 'hash' }] }), /part of the key/);
  await assert.rejects(snapshotRequest(e.target, e.dir, { table: 'customers', rows: 5, seed: 1, mask: [{ column: 'nope', how: 'hash' }] }), /no such column/);
  await s.sql('CREATE TABLE heap (a int)');
  await assert.rejects(snapshotRequest(e.target, e.dir, { table: 'heap', rows: 5, seed: 1, mask: [] }), /no primary key or unique index/);
  await assert.rejects(snapshotRequest(e.target, e.dir, { table: 'customers', rows: 5, seed: 1, mask: [], where: 'nonsense ===' }), /--where is not a valid condition/);
});
