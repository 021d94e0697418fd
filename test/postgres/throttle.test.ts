// Throttling and canary runs on PostgreSQL: a health query (or a long transaction) holds writes back until
// it clears; `tune` changes the batch size of a running run; the batch size adapts to a target duration
// (grow slowly, shrink fast, within bounds); a fixed pause follows each batch; the real `redress tune`
// changes batch size and pause of a running apply and of a running rollback; the replication-lag check
// runs on this primary (no replicas: no lag) and acts on lag where pg_stat_replication shows some; a
// canary slice is applied, verified, then waits for a person or continues by itself, and a canary whose
// rows do not verify halts before the rest.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { startTestDaemon, dryRun, waitForRun, type RunningDaemon, type Workspace } from '../helpers/harness';
import { inCanary } from '../../daemon/engine/apply';
import { RunControl } from '../../daemon/engine/runControl';
import { Throttle } from '../../daemon/engine/throttle';
import { PostgresTarget } from '../../daemon/targets/postgres';
import { pgEngine, pgSchema, pgWorkspace, tableText, type PgEngine, type PgSchema, lowerEmailCorrection } from '../helpers/pg';

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

/** A RunControl that records the sleeps a throttle asks for instead of sleeping (a tune can arrive during one). */
class RecordingControl extends RunControl {
  sleeps: number[] = [];
  onSleep: (() => void) | null = null;
  override async sleep(ms: number): Promise<boolean> {
    this.sleeps.push(ms);
    const f = this.onSleep;
    this.onSleep = null;
    if (f) f();
    else await new Promise((r) => setTimeout(r, ms));
    return true;
  }
}

describe('fixed pause between batches (no database)', () => {
  test('pauseMs: the throttle pauses that long after every batch, and not at all without it', async () => {
    const ctl = new RecordingControl();
    const t = new Throttle({ pauseMs: 250 }, 100, undefined);
    for (let i = 0; i < 3; i++) assert.equal(await t.afterBatch(ctl, 100, 5), true);
    assert.equal(ctl.sleeps.filter((ms) => ms > 240 && ms <= 250).length, 3, `one pause of 250 ms per batch: ${ctl.sleeps}`);
    const none = new RecordingControl();
    await new Throttle({}, 100, undefined).afterBatch(none, 100, 5);
    assert.deepEqual(none.sleeps, []);
  });

  test('a tune that arrives during a pause applies to that pause: shorter ends it, zero ends it at once', async () => {
    const ctl = new RecordingControl();
    const t = new Throttle({ pauseMs: 600_000 }, 100, undefined);
    ctl.onSleep = () => ctl.tune({ pauseMs: 0, batchSize: 7 });
    assert.equal(await t.afterBatch(ctl, 100, 5), true);
    assert.equal(ctl.sleeps.length, 1, 'the pause ended when tuned to 0');
    assert.equal(t.batchSize, 7);
    await t.afterBatch(ctl, 7, 5);
    assert.equal(ctl.sleeps.length, 1, 'no pause from then on');
  });
});

let s: PgSchema;
let e: PgEngine;
const ROWS = 60;
const LOWER = lowerEmailCorrection(10);

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

// ---------- the real CLI against a running run (a daemon on this schema) ----------

async function withDaemon(fn: (d: RunningDaemon, ws: ReturnType<typeof pgWorkspace>, cli: (...args: string[]) => ReturnType<typeof spawnSync>) => Promise<void>): Promise<void> {
  const ws = pgWorkspace(s, 'redress-tune-');
  const d = await startTestDaemon(ws as unknown as Workspace);
  const cli = (...args: string[]) => spawnSync(process.execPath, [join(__dirname, '..', '..', 'dist', 'cli.js'), '-w', ws.dir, ...args], { encoding: 'utf8', cwd: ws.dir });
  try {
    await fn(d, ws, cli);
  } finally {
    await d.stop();
    ws.cleanup();
  }
}

test('redress tune on a running apply: the fixed pause holds the run after its first batch until `tune --pause-ms 0 -b 25` lets it go on in batches of 25', async () => {
  await withDaemon(async (d, ws, cli) => {
    const dry = await dryRun(d.client, ws.correction('lower-email', LOWER));
    const { runId } = await d.client.request('apply', { planId: dry.planId!, throttle: { pauseMs: 600_000 } });
    await until(async () => (await d.client.request('run', { runId })).batchesDone === 1, 'the first batch');
    await new Promise((r) => setTimeout(r, 300));
    const held = await d.client.request('run', { runId });
    assert.deepEqual([held.status, held.batchesDone, await lowered()], ['running', 1, 10], 'the pause after the first batch holds the run');

    const tuned = cli('tune', runId, '-b', '25', '--pause-ms', '0');
    assert.equal(tuned.status, 0, String(tuned.stderr) + String(tuned.stdout));
    assert.match(String(tuned.stdout), new RegExp(`Run ${runId} tuned`));
    const done = await waitForRun(d.client, runId);
    assert.equal(done.status, 'completed', done.message ?? '');
    assert.equal(done.batchesDone, 3, 'one batch of 10, then two of 25');
    assert.equal(await lowered(), ROWS);

    // A run that is not going cannot be tuned, and says so; an empty tune says what to give.
    const late = cli('tune', runId, '-b', '5');
    assert.equal(late.status, 2);
    assert.match(String(late.stderr), new RegExp(`Run ${runId} is not running; only a running apply or rollback can be tuned`));
  });
});

test('redress tune on a running rollback: the rollback is throttled as its apply was, and a new batch size applies to it', async () => {
  await withDaemon(async (d, ws, cli) => {
    const dry = await dryRun(d.client, ws.correction('lower-email', LOWER));
    await s.sql(`UPDATE gate SET closed = false`);
    const throttle = { healthQuery: 'SELECT closed FROM gate', healthPollMs: 20 };
    const applied = await waitForRun(d.client, (await d.client.request('apply', { planId: dry.planId!, throttle })).runId);
    assert.equal(applied.status, 'completed', applied.message ?? '');
    await s.sql(`UPDATE gate SET closed = true`);
    const { runId } = await d.client.request('rollback', { runId: applied.id });
    await until(async () => (await s.sql(`SELECT 1 FROM pg_stat_activity WHERE application_name LIKE $1`, [`redress run ${runId} %`])).rowCount === 1, 'the rollback to start');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await lowered(), ROWS, 'the rollback waits on its apply\'s throttle query');
    const tuned = cli('tune', runId, '--batch-size', '4');
    assert.equal(tuned.status, 0, String(tuned.stderr) + String(tuned.stdout));
    await s.sql(`UPDATE gate SET closed = false`);
    const done = await waitForRun(d.client, runId);
    assert.equal(done.status, 'completed', done.message ?? '');
    assert.equal(done.batchesDone, ROWS / 4, 'the tuned batch size was used');
    assert.equal(await lowered(), 0);
  });
});

test('replication lag: on this primary the check runs and finds no replica lagging; where pg_stat_replication shows lag past the bound it says wait, naming the replica, until the lag clears', async () => {
  // The built-in check reads pg_stat_replication. This server has no replicas: no row, no lag, no wait.
  assert.equal((await s.sql(`SELECT count(*)::int AS n FROM pg_stat_replication`)).rows[0]!.n, 0);
  assert.equal(await e.target.healthCheck({ maxReplicationLagS: 0 }), null);
  const planId = await plan();
  const done = await e.run(e.engine.startApply({ planId, throttle: { maxReplicationLagS: 0, maxTransactionAgeS: 3600, healthPollMs: 20 } }));
  assert.equal(done.status, 'completed', done.message ?? '');
  assert.equal(await lowered(), ROWS);

  // A replica that lags, as pg_stat_replication would show it: a view of that name ahead of pg_catalog on
  // the target's search_path stands in for the catalog's (the check's query and its decision are the real ones).
  const url = new URL(s.url);
  url.searchParams.set('options', `-c search_path=${s.name},pg_catalog`);
  await s.sql(`CREATE TABLE lag (s float8 NOT NULL)`);
  await s.sql(`INSERT INTO lag VALUES (42.5)`);
  await s.sql(`CREATE VIEW pg_stat_replication AS SELECT 'replica-1'::text AS application_name, NULL::interval AS write_lag, make_interval(secs => s) AS flush_lag, make_interval(secs => s / 2) AS replay_lag FROM lag`);
  const t = await PostgresTarget.open(url.toString());
  try {
    assert.equal(await t.healthCheck({ maxReplicationLagS: 10 }), 'replica replica-1 lags 42.5s, more than 10s');
    assert.equal(await t.healthCheck({ maxReplicationLagS: 60 }), null, 'lag within the bound');
    await s.sql(`UPDATE lag SET s = 0.2`);
    assert.equal(await t.healthCheck({ maxReplicationLagS: 10 }), null, 'lag cleared');
  } finally {
    await t.close();
  }
});
