// An apply on PostgreSQL writes several batches at once (`concurrency`, default 2), each a transaction on
// a connection of its own, while checkpoints still advance in plan order: a batch is checkpointed only
// once it and every batch before it have committed. These tests prove the batches really overlap, that
// every row is still written exactly once, and what happens when one batch fails while a later one
// has committed: the run halts, a rollback restores the later batch too, a resume replays it.
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { RedressError } from '../../shared/errors';
import { lowerEmailCorrection, pgEngine, pgSchema, tableText, type PgEngine, type PgSchema } from '../helpers/pg';

const ROWS = 300;
let s: PgSchema;
let e: PgEngine;
let original: string[];
let planId: string;

before(async () => {
  s = await pgSchema('lanes');
  e = await pgEngine(s);
});
after(async () => {
  await e?.close();
  await s?.drop();
});
beforeEach(async () => {
  e.target.beforeCommit = null;
  await s.sql('DROP TABLE IF EXISTS people; DROP TABLE IF EXISTS writes');
  await s.sql('CREATE TABLE people (id int8 PRIMARY KEY, email text NOT NULL)');
  await s.sql(`INSERT INTO people SELECT i, 'Person' || i || '@Example.COM' FROM generate_series(1, ${ROWS}) i`);
  // Every write a row receives, logged by the server itself.
  await s.sql('CREATE TABLE writes (id int8)');
  await s.sql(`CREATE OR REPLACE FUNCTION log_write() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO writes VALUES (NEW.id); RETURN NEW; END $$`);
  await s.sql('CREATE TRIGGER log_write AFTER UPDATE ON people FOR EACH ROW EXECUTE FUNCTION log_write()');
  original = await tableText(s, 'people', 'id');
  const dry = await e.run(e.engine.startDryRun({ correction: e.correction('lower-email', lowerEmailCorrection(20)), params: {} }));
  assert.equal(dry.status, 'completed', dry.message ?? '');
  planId = dry.planId!;
});

/** How many times each row was written: { timesWritten: rows }. */
async function writesPerRow(): Promise<Record<number, number>> {
  const r = await s.sql('SELECT n, count(*)::int AS rows FROM (SELECT id, count(*)::int AS n FROM writes GROUP BY id) w GROUP BY n');
  return Object.fromEntries(r.rows.map((x: { n: number; rows: number }) => [x.n, x.rows]));
}

test('batches are written at once on connections of their own, and every row is written exactly once', async () => {
  // The first batch does not commit until another batch is ready to commit too: with one batch at a
  // time this would never happen (and the test would fail on the timeout below).
  const committing = new Set<number>();
  let overlapped = false;
  let release!: () => void;
  const bothReady = new Promise<void>((r) => (release = r));
  e.target.beforeCommit = async (pid) => {
    committing.add(pid);
    if (committing.size >= 2) {
      overlapped = true;
      release();
    }
    if (!overlapped) await Promise.race([bothReady, new Promise((_, reject) => setTimeout(() => reject(new Error('no second batch was written while the first one was open')), 10_000))]);
  };
  const run = await e.run(e.engine.startApply({ planId, concurrency: 3 }));
  assert.equal(run.status, 'completed', run.message ?? '');
  assert.ok(overlapped, 'two batches were open at once, on two connections');
  assert.deepEqual(run.options.concurrency, 3);
  assert.equal(run.apply.applied, ROWS);
  assert.equal(run.batchesDone, ROWS / 20);
  assert.equal(run.cursor, ROWS - 1, 'the checkpoint reached the last plan row');
  assert.deepEqual(await writesPerRow(), { 1: ROWS });
  assert.equal((await s.sql(`SELECT count(*)::int AS n FROM people WHERE email <> lower(email)`)).rows[0].n, 0);
});

test('the default is two batches at once, recorded with the run; its rollback writes two at once too', async () => {
  const run = await e.run(e.engine.startApply({ planId }));
  assert.equal(run.status, 'completed', run.message ?? '');
  assert.equal(run.options.concurrency, 2);
  const rb = await e.run(e.engine.startFollowUp('rollback', run.id));
  assert.equal(rb.status, 'completed', rb.message ?? '');
  assert.equal(rb.options.concurrency, 2);
  assert.deepEqual(await tableText(s, 'people', 'id'), original);
});

/**
 * Fault injection: the 3rd batch fails (as if the table had changed) only once the 4th, written at the
 * same time, has committed. The real server cannot be made to do this on demand. Returns the real
 * casWrite, to put back.
 */
function failThirdBatchOnceFourthCommits(): PgEngine['target']['casWrite'] {
  const casWrite = e.target.casWrite.bind(e.target);
  let call = 0;
  let fourthDone!: () => void;
  const fourth = new Promise<void>((r) => (fourthDone = r));
  e.target.casWrite = async (...args) => {
    const n = ++call;
    if (n === 3) {
      await fourth;
      throw new RedressError('SCHEMA_DRIFT', 'injected: the table changed');
    }
    const out = await casWrite(...args);
    if (n === 4) fourthDone();
    return out;
  };
  return casWrite;
}

test('a batch that fails while a later one has committed: the run halts, a rollback restores the later batch too', async () => {
  const casWrite = failThirdBatchOnceFourthCommits();
  try {
    const run = await e.run(e.engine.startApply({ planId, concurrency: 2 }));
    assert.equal(run.status, 'halted', run.message ?? '');
    assert.equal(run.batchesDone, 2, 'checkpoints stop before the failed batch');
    assert.equal(run.apply.applied, 40);
    assert.deepEqual(await writesPerRow(), { 1: 60 }, 'batches 1, 2 and 4 are on the table');
    const rb = await e.run(e.engine.startFollowUp('rollback', run.id));
    assert.equal(rb.status, 'completed', rb.message ?? '');
    assert.equal(rb.apply.applied, 60, 'the committed batch past the checkpoint is restored as well');
    assert.deepEqual(await tableText(s, 'people', 'id'), original);
  } finally {
    e.target.casWrite = casWrite;
  }
});

test('a batch that fails while a later one has committed: a resume replays the later batch and writes each row once', async () => {
  const casWrite = failThirdBatchOnceFourthCommits();
  let runId: string;
  try {
    const run = await e.run(e.engine.startApply({ planId, concurrency: 2 }));
    assert.equal(run.status, 'halted', run.message ?? '');
    runId = run.id;
  } finally {
    e.target.casWrite = casWrite;
  }
  const done = await e.run(e.engine.resume(runId));
  assert.equal(done.status, 'completed', done.message ?? '');
  assert.equal(done.apply.applied + done.apply.alreadyApplied, ROWS);
  assert.equal(done.apply.alreadyApplied, 20, 'the batch committed past the checkpoint was found already written');
  assert.deepEqual(await writesPerRow(), { 1: ROWS });
});

test('more batches at once than the pool can write is refused before anything is written', async () => {
  for (const n of [9, 99]) {
    await assert.rejects(
      e.engine.startApply({ planId, concurrency: n }),
      (err: RedressError) => err.code === 'RUN_STATE' && new RegExp(`--concurrency ${n} is more than .* can write at once: at most 4 batches, .*Give --concurrency 4 or less\\.`).test(err.message),
    );
  }
  assert.deepEqual(await writesPerRow(), {});
});

test('batches at once with a pause after every batch (which writes one at a time) is refused, naming both', async () => {
  await assert.rejects(
    e.engine.startApply({ planId, concurrency: 3, throttle: { pauseMs: 50 } }),
    (err: RedressError) => err.code === 'RUN_STATE' && /--concurrency 3 and --pause-ms 50 ask for two things at once: .*Drop --concurrency to pause, or drop --pause-ms/.test(err.message),
  );
  assert.deepEqual(await writesPerRow(), {});
  const paused = await e.run(e.engine.startApply({ planId, throttle: { pauseMs: 1 } }));
  assert.equal(paused.status, 'completed', paused.message ?? '');
  assert.equal((paused.options as { concurrency: number }).concurrency, 2, 'the default is recorded; the pause writes one at a time');
});

test('a checkpoint that fails after its batch committed (the ledger disk full): a rollback restores that batch too', async () => {
  // Fault injection: the ledger refuses the 2nd checkpoint, as SQLite does when its disk is full.
  const checkpoint = e.ledger.checkpoint.bind(e.ledger);
  let call = 0;
  e.ledger.checkpoint = (...args) => {
    if (++call === 2) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    return checkpoint(...args);
  };
  let run;
  try {
    run = await e.run(e.engine.startApply({ planId, concurrency: 2 }));
  } finally {
    e.ledger.checkpoint = checkpoint;
  }
  assert.equal(run.status, 'failed', run.message ?? '');
  assert.equal(run.batchesDone, 1, 'only the first batch is checkpointed');
  const written = await writesPerRow();
  assert.ok(written[1]! >= 40, `batches 1 and 2 are on the table (${JSON.stringify(written)})`);
  const rb = await e.run(e.engine.startFollowUp('rollback', run.id));
  assert.equal(rb.status, 'completed', rb.message ?? '');
  assert.equal(rb.apply.applied, written[1], 'every row on the table, checkpointed or not, is restored');
  assert.deepEqual(await tableText(s, 'people', 'id'), original);
});
