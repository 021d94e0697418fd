// Throttling and canary runs on PostgreSQL: a health query (or a long transaction) holds writes back until
// it clears; `tune` changes the batch size of a running run; the batch size adapts to a target duration
// (grow slowly, shrink fast, within bounds); a canary slice is applied, verified, then waits for a person
// or continues by itself, and a canary whose rows do not verify halts before the rest.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { inCanary } from '../../daemon/engine/apply';
import { RunControl } from '../../daemon/engine/runControl';
import { Throttle } from '../../daemon/engine/throttle';
import { pgEngine, pgSchema, tableText, type PgEngine, type PgSchema } from '../helpers/pg';

describe('adaptive batch size (no database)', () => {
  test('grows by a fifth while batches beat the target, halves when one takes much longer, stays within bounds', async () => {
    const t = new Throttle({ targetBatchMs: 100, minBatchSize: 50, maxBatchSize: 400 }, 100, undefined);
    const ctl = new RunControl();
    const sizes: number[] = [];
    for (const ms of [10, 10, 10, 10, 10, 10, 10, 10, 10, 10]) {
      await t.afterBatch(ctl, t.batchSize, ms);
      sizes.push(t.batchSize);
    }
    assert.deepEqual(sizes.slice(0, 4), [120, 144, 173, 208]);
    assert.equal(sizes.at(-1), 400, 'capped at maxBatchSize');
    await t.afterBatch(ctl, t.batchSize, 1000);
    assert.equal(t.batchSize, 200, 'one slow batch halves it');
    await t.afterBatch(ctl, t.batchSize, 1000);
    await t.afterBatch(ctl, t.batchSize, 1000);
    assert.equal(t.batchSize, 50, 'never below minBatchSize');
    await t.afterBatch(ctl, 10, 1); // a short last batch says nothing about the size
    assert.equal(t.batchSize, 50);
    ctl.tune({ batchSize: 10_000 });
    await t.afterBatch(ctl, 0, 0);
    assert.equal(t.batchSize, 400, 'tuning stays within the bounds rollback relies on');
  });
});

let s: PgSchema;
let e: PgEngine;
const ROWS = 60;
const LOWER = `import { defineCorrection } from 'redress';
export default defineCorrection<{ id: number; email: string }>({
  id: 'lower-email', description: 'lower-case emails', target: { table: 'people', key: 'id' },
  expects: { email: 'text' },
  transform: (row) => ({ email: row.email.toLowerCase() }),
  options: { batchSize: 10 },
});`;

beforeEach(async () => {
  s = await pgSchema('throttle');
  await s.sql(`CREATE TABLE people (id int8 PRIMARY KEY, email text NOT NULL)`);
  await s.sql(`INSERT INTO people SELECT i, 'Person' || i || '@Example.COM' FROM generate_series(1, ${ROWS}) i`);
  await s.sql(`CREATE TABLE gate (closed boolean NOT NULL, why text)`);
  await s.sql(`INSERT INTO gate VALUES (true, 'nightly report running')`);
  e = await pgEngine(s);
});
afterEach(async () => {
  await e?.close();
  await s?.drop();
});

async function plan(): Promise<string> {
  const dry = await e.run(e.engine.startDryRun({ correction: e.correction('lower-email', LOWER), params: {} }));
  assert.equal(dry.status, 'completed', dry.message ?? '');
  return dry.planId!;
}
const lowered = async () => Number((await s.sql(`SELECT count(*) FROM people WHERE email = lower(email)`)).rows[0]!.count);
async function until(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

test('a throttle query holds writes back until it clears; tune changes the batch size of the waiting run', async () => {
  const planId = await plan();
  const runId = await e.engine.startApply({ planId, throttle: { healthQuery: 'SELECT closed, why FROM gate', healthPollMs: 20 } });
  await until(() => e.logs.some((l) => l.includes('waiting: the throttle query says wait: nightly report running')), 'the run to wait');
  assert.equal(await lowered(), 0, 'nothing written while the query says wait');
  assert.equal(e.ledger.requireRun(runId).status, 'running');
  e.engine.tune(runId, { batchSize: 4 });
  await s.sql(`UPDATE gate SET closed = false`);
  const done = await e.run(runId);
  assert.equal(done.status, 'completed', done.message ?? '');
  assert.equal(done.apply.applied, ROWS);
  assert.equal(done.batchesDone, ROWS / 4, 'the tuned batch size was used from the first batch on');
});

test('pausing a run that waits on its throttle query stops it at once, and it resumes where it was', async () => {
  const planId = await plan();
  const runId = await e.engine.startApply({ planId, throttle: { healthQuery: 'SELECT closed FROM gate', healthPollMs: 20 } });
  await until(() => e.logs.some((l) => l.includes('waiting')), 'the run to wait');
  e.engine.request(runId, 'pause');
  const paused = await e.run(runId);
  assert.equal(paused.status, 'paused');
  await s.sql(`UPDATE gate SET closed = false`);
  await e.engine.resume(runId);
  const done = await e.run(runId);
  assert.equal(done.status, 'completed');
  assert.equal(await lowered(), ROWS);
});

test('a long-running transaction elsewhere holds writes back until it ends (maxTransactionAgeS)', async () => {
  const planId = await plan();
  const other = await s.target();
  const c = await (other as unknown as { pool: import('pg').Pool }).pool.connect();
  await c.query(`SET application_name = 'reporting'; BEGIN; SELECT txid_current()`);
  const runId = await e.engine.startApply({ planId, throttle: { maxTransactionAgeS: 0, healthPollMs: 20 } });
  await until(() => e.logs.some((l) => /waiting: a transaction \(pid \d+, idle in transaction\) has been open/.test(l)), 'the run to wait');
  assert.equal(await lowered(), 0);
  await c.query('COMMIT');
  c.release();
  const done = await e.run(runId);
  assert.equal(done.status, 'completed', done.message ?? '');
  assert.equal(await lowered(), ROWS);
});

test('a canary slice is applied and verified, then waits for a person; the rest follows with restOf; rollback of both restores the table', async () => {
  const original = await tableText(s, 'people', 'id');
  const planId = await plan();
  const canary = await e.run(e.engine.startApply({ planId, canaryPercent: 25, afterCanary: 'wait' }));
  const inSlice = e.ledger.planRows(e.ledger.requirePlan(planId).dryRunId, -1, 1000, 'changed').filter((r) => inCanary(r.key, 25)).length;
  assert.ok(inSlice > 5 && inSlice < 30, `canary slice of ${inSlice} rows`);
  assert.equal(canary.status, 'completed', canary.message ?? '');
  assert.match(canary.message!, new RegExp(`canary verified: ${inSlice} row\\(s\\).*--rest-of ${canary.id}`));
  assert.equal(await lowered(), inSlice, 'only the canary slice is written');
  assert.equal(e.ledger.runs(10).filter((r) => r.parentRunId === canary.id).length, 0, 'nothing continues by itself');

  const rest = await e.run(e.engine.startApply({ planId, restOf: canary.id }));
  assert.equal(rest.status, 'completed', rest.message ?? '');
  assert.equal(rest.apply.applied, ROWS - inSlice);
  assert.equal(await lowered(), ROWS);

  for (const id of [rest.id, canary.id]) {
    const rb = await e.run(e.engine.startFollowUp('rollback', id));
    assert.equal(rb.status, 'completed', rb.message ?? '');
  }
  assert.deepEqual(await tableText(s, 'people', 'id'), original);
});

test('a clean canary with afterCanary continue starts the rest by itself', async () => {
  const planId = await plan();
  const canary = await e.run(e.engine.startApply({ planId, canaryPercent: 10, afterCanary: 'continue' }));
  assert.equal(canary.status, 'completed', canary.message ?? '');
  const rest = e.ledger.runs(10).find((r) => r.parentRunId === canary.id)!;
  assert.ok(rest, 'a rest run was started');
  const done = await e.run(rest.id);
  assert.equal(done.status, 'completed', done.message ?? '');
  assert.equal(canary.apply.applied + done.apply.applied, ROWS);
  assert.equal(await lowered(), ROWS);
});

test('a canary whose rows do not verify halts before the rest, naming the rows', async () => {
  const planId = await plan();
  const canaryRow = e.ledger.planRows(e.ledger.requirePlan(planId).dryRunId, -1, 1000, 'changed').find((r) => inCanary(r.key, 25))!;
  const id = (JSON.parse(canaryRow.key) as { $int: string }[])[0]!.$int;
  // Another writer changes a canary row between its write and the verification.
  const readKeys = e.target.readKeys.bind(e.target);
  e.target.readKeys = async (...a) => {
    await s.sql(`UPDATE people SET email = 'Someone@Else' WHERE id = $1`, [id]);
    return readKeys(...a);
  };
  const canary = await e.run(e.engine.startApply({ planId, canaryPercent: 25, afterCanary: 'continue' }));
  assert.equal(canary.status, 'halted');
  assert.match(canary.message!, new RegExp(`Canary verification: 1 of \\d+ row\\(s\\).*\\[\\{"\\$int":"${id}"\\}\\].*redress rollback ${canary.id}`));
  assert.equal(e.ledger.runs(10).filter((r) => r.parentRunId === canary.id).length, 0, 'the rest did not start');
});
