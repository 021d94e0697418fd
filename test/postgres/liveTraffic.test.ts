// Runs on PostgreSQL while other sessions work on the same table: a row updated mid-run is quarantined as
// drifted and never overwritten; ALTER TABLE mid-run halts the run before its next batch, naming the
// change; a connection killed inside a batch is retried with backoff and nothing is lost; another run of
// the same correction holding the run lock keeps this one from starting.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { pgEngine, pgSchema, tableText, type PgEngine, type PgSchema, lowerEmailCorrection } from '../helpers/pg';

let s: PgSchema;
let e: PgEngine;

const ROWS = 60;
const BATCH = 10;
const LOWER = lowerEmailCorrection(BATCH);

beforeEach(async () => {
  s = await pgSchema('live');
  await s.sql(`CREATE TABLE people (id int8 PRIMARY KEY, email text NOT NULL, note text)`);
  await s.sql(`INSERT INTO people SELECT i, 'Person' || i || '@Example.COM', NULL FROM generate_series(1, ${ROWS}) i`);
});
afterEach(async () => {
  await e?.close();
  await s?.drop();
});

/** Calls `hook(n)` before the n-th batch write (1-based) of the target. */
function beforeBatch(en: PgEngine, hook: (n: number) => Promise<void>): void {
  const orig = en.target.casWrite.bind(en.target);
  let n = 0;
  en.target.casWrite = async (...a) => {
    await hook(++n);
    return orig(...a);
  };
}

async function plan(en: PgEngine): Promise<string> {
  const dry = await en.run(en.engine.startDryRun({ correction: en.correction('lower-email', LOWER), params: {} }));
  assert.equal(dry.status, 'completed', dry.message ?? '');
  assert.equal(dry.counts.changed, ROWS);
  return dry.planId!;
}

test('a row another client updates mid-run is quarantined as drifted and keeps that client’s value', async () => {
  e = await pgEngine(s);
  const planId = await plan(e);
  beforeBatch(e, async (n) => {
    if (n === 3) await s.sql(`UPDATE people SET email = 'Changed.By@Someone.Else' WHERE id IN (5, 45)`); // one committed already, one ahead
  });
  const run = await e.run(e.engine.startApply({ planId }));
  assert.equal(run.status, 'completed', run.message ?? '');
  assert.deepEqual(run.apply, { applied: ROWS - 1, alreadyApplied: 0, drifted: 1 });
  const rows = (await s.sql('SELECT id, email FROM people ORDER BY id')).rows as { id: string; email: string }[];
  assert.equal(rows.find((r) => r.id === '45')!.email, 'Changed.By@Someone.Else', 'the other client’s write is not overwritten');
  assert.equal(rows.find((r) => r.id === '5')!.email, 'Changed.By@Someone.Else');
  assert.ok(rows.filter((r) => !['5', '45'].includes(r.id)).every((r) => r.email === r.email.toLowerCase()));

  // Rollback is compare-and-set too: row 5 changed after apply, so it is quarantined, not restored.
  const rolled = await e.run(e.engine.startFollowUp('rollback', run.id));
  assert.deepEqual(rolled.apply, { applied: ROWS - 2, alreadyApplied: 0, drifted: 1 });
  assert.equal((await s.sql('SELECT email FROM people WHERE id = 5')).rows[0]!.email, 'Changed.By@Someone.Else');
});

test('ALTER TABLE mid-run halts the apply before its next batch, with a message naming the change', async () => {
  e = await pgEngine(s);
  const planId = await plan(e);
  beforeBatch(e, async (n) => {
    if (n === 3) await s.sql(`ALTER TABLE people ADD COLUMN flagged boolean, ALTER COLUMN note TYPE varchar(50)`);
  });
  // One batch at a time, so the ALTER falls exactly between batches 2 and 3 (with two at once it may
  // also come before batch 2 has begun: the test after this one).
  const run = await e.run(e.engine.startApply({ planId, concurrency: 1 }));
  assert.equal(run.status, 'halted');
  assert.match(run.message!, /column "note" changed type from text to character varying\(50\)/);
  assert.match(run.message!, /column "flagged" was added/);
  assert.equal(run.batchesDone, 2);
  const lowered = (await s.sql(`SELECT count(*)::int AS n FROM people WHERE email = lower(email)`)).rows[0]!.n;
  assert.equal(lowered, 2 * BATCH, 'exactly the two committed batches were written');
});

test('ALTER TABLE mid-run with two batches at once: halts, and the table holds exactly the checkpointed batches', async () => {
  // Regression: run as the default (two at once), the ALTER made when batch 3 starts sometimes takes
  // its lock before batch 2 has begun. Batch 2 then finds the change and writes nothing; either way the
  // batches on the table are the checkpointed ones, and none is past the checkpoint.
  e = await pgEngine(s);
  const planId = await plan(e);
  beforeBatch(e, async (n) => {
    if (n === 3) await s.sql(`ALTER TABLE people ADD COLUMN flagged boolean`);
  });
  const run = await e.run(e.engine.startApply({ planId, concurrency: 2 }));
  assert.equal(run.status, 'halted');
  assert.match(run.message!, /column "flagged" was added/);
  assert.ok([1, 2].includes(run.batchesDone), `batches done: ${run.batchesDone}`);
  const lowered = (await s.sql(`SELECT count(*)::int AS n FROM people WHERE email = lower(email)`)).rows[0]!.n;
  assert.equal(lowered, run.batchesDone * BATCH, 'exactly the checkpointed batches were written');
});

test('ALTER TABLE during a dry-run halts it before its next batch', async () => {
  e = await pgEngine(s);
  const orig = e.target.readRange.bind(e.target);
  let reads = 0;
  e.target.readRange = async (...a) => {
    if (++reads === 3) await s.sql(`ALTER TABLE people DROP COLUMN note`);
    return orig(...a);
  };
  // The drop lands between the 3rd batch's schema check and its read: that read reports the drift.
  const dry = await e.run(e.engine.startDryRun({ correction: e.correction('lower-email', LOWER), params: {} }));
  assert.equal(dry.status, 'halted', dry.message ?? '');
  assert.match(dry.message!, /column "note" was dropped/);
  assert.equal(dry.batchesDone, 2);
});

test('the connection killed inside a batch (pg_terminate_backend): the batch is retried with backoff, every row is written exactly once', async () => {
  e = await pgEngine(s, { backoffMs: 20 });
  const planId = await plan(e);
  const retries: string[] = [];
  e.target.onRetry = (what, attempt, err) => retries.push(`${what} #${attempt}: ${err.message}`);
  let killed = 0;
  e.target.beforeCommit = async (pid) => {
    if (killed < 2) {
      killed++;
      await s.sql('SELECT pg_terminate_backend($1)', [pid]);
    }
  };
  const before = await tableText(s, 'people', 'id');
  const run = await e.run(e.engine.startApply({ planId }));
  assert.equal(run.status, 'completed', run.message ?? '');
  assert.equal(killed, 2);
  assert.equal(retries.length, 2, retries.join('\n'));
  assert.match(retries[0]!, /writing a batch #1/);
  assert.deepEqual(run.apply, { applied: ROWS, alreadyApplied: 0, drifted: 0 });
  const after = (await s.sql('SELECT email FROM people ORDER BY id')).rows.map((r) => r.email as string);
  assert.deepEqual(after, before.map((t) => (JSON.parse(t) as { email: string }).email.toLowerCase()));
});

test('every connection of the daemon killed between batches: reads and writes reconnect and the run completes', async () => {
  e = await pgEngine(s, { backoffMs: 20 });
  const planId = await plan(e);
  beforeBatch(e, async (n) => {
    if (n === 2 || n === 4) await s.sql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'redress' AND datname = current_database()`);
  });
  const run = await e.run(e.engine.startApply({ planId }));
  assert.equal(run.status, 'completed', run.message ?? '');
  assert.deepEqual(run.apply, { applied: ROWS, alreadyApplied: 0, drifted: 0 });
});

test('another session holding the run lock of the same correction keeps this run from starting (BUSY at once, nothing written) until it lets go', async () => {
  e = await pgEngine(s);
  const planId = await plan(e);
  const key = `redress:lower-email:${s.name}.people`;
  await s.sql(`SELECT pg_advisory_lock(hashtext('redress-run'), hashtext($1))`, [key]);
  const pid = (await s.sql(`SELECT pg_backend_pid() AS pid`)).rows[0]!.pid as number;
  await assert.rejects(e.engine.startApply({ planId }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'BUSY');
    assert.match(err.message, new RegExp(`held by "redress-test" \\(PostgreSQL session pid ${pid}.*wrote nothing.*pg_terminate_backend\\(${pid}\\)`, 's'));
    return true;
  });
  assert.equal(e.ledger.runs(10).filter((r) => r.kind === 'apply').length, 0);
  assert.equal((await s.sql(`SELECT count(*)::int AS n FROM people WHERE email = lower(email)`)).rows[0]!.n, 0, 'nothing written while locked out');
  await s.sql(`SELECT pg_advisory_unlock(hashtext('redress-run'), hashtext($1))`, [key]);
  const done = await e.run(e.engine.startApply({ planId }));
  assert.equal(done.status, 'completed', done.message ?? '');
  assert.equal(done.apply.applied, ROWS);
});
