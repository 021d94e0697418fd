// Two runs of one correction on one PostgreSQL table never overlap, even from two daemons: an apply or
// rollback holds a session-level advisory lock on (correction, table) for its whole run, on a connection
// of its own. A second run is refused at once (BUSY), naming the run and daemon that hold the lock, before
// it writes anything; the lock is given up when the run ends, is cancelled or fails, and the server frees
// it when the holding daemon is killed. A run whose lock session is cut off takes the lock again before
// its next batch, and stops if another run took it meanwhile.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { RedressError } from '../../shared/errors';
import { dryRun, startTestDaemon, waitForRun, type RunningDaemon, type Workspace } from '../helpers/harness';
import { pgEngine, pgSchema, pgWorkspace, type PgEngine, type PgSchema, lowerEmailCorrection } from '../helpers/pg';

const ROWS = 40;
const LOWER = lowerEmailCorrection(10);

let s: PgSchema;
const engines: PgEngine[] = [];
const daemons: RunningDaemon[] = [];
const workspaces: ReturnType<typeof pgWorkspace>[] = [];

beforeEach(async () => {
  s = await pgSchema('runlock');
  await s.sql(`CREATE TABLE people (id int8 PRIMARY KEY, email text NOT NULL)`);
  await s.sql(`INSERT INTO people SELECT i, 'Person' || i || '@Example.COM' FROM generate_series(1, ${ROWS}) i`);
  // Gates the runs wait on (throttle queries), so a run can be held while it holds its lock.
  await s.sql(`CREATE TABLE gate (name text PRIMARY KEY, closed boolean NOT NULL)`);
  await s.sql(`INSERT INTO gate VALUES ('a', true), ('b', true)`);
});
afterEach(async () => {
  for (const d of daemons.splice(0)) await d.stop().catch(() => {});
  for (const e of engines.splice(0)) await e.close().catch(() => {});
  for (const w of workspaces.splice(0)) w.cleanup();
  await s?.drop();
});

async function engine(): Promise<PgEngine> {
  const e = await pgEngine(s);
  engines.push(e);
  return e;
}
async function plan(e: PgEngine): Promise<string> {
  const dry = await e.run(e.engine.startDryRun({ correction: e.correction('lower-email', LOWER), params: {} }));
  assert.equal(dry.status, 'completed', dry.message ?? '');
  return dry.planId!;
}
const gated = (name: string) => ({ healthQuery: `SELECT closed FROM gate WHERE name = '${name}'`, healthPollMs: 20 });
const open = (name: string) => s.sql(`UPDATE gate SET closed = false WHERE name = $1`, [name]);
const lowered = async () => Number((await s.sql(`SELECT count(*) FROM people WHERE email = lower(email)`)).rows[0]!.count);
async function until(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}
const waiting = (e: PgEngine) => until(() => e.logs.some((l) => l.includes('waiting: the throttle query says wait')), 'the run to wait on its gate');
/** The lock session of a run, as the server lists it. */
const lockSessions = async (runId: string) => (await s.sql(`SELECT pid FROM pg_stat_activity WHERE application_name LIKE $1`, [`redress run ${runId} %`])).rows as { pid: number }[];

function assertBusy(e: unknown, holderRunId: string): true {
  assert.ok(e instanceof RedressError, String(e));
  assert.equal(e.code, 'BUSY');
  assert.match(e.message, /Another run of lower-email on table people is going/);
  assert.match(e.message, new RegExp(`"redress run ${holderRunId} pid \\d+@`), 'names the run and daemon that hold the lock');
  assert.match(e.message, /wrote nothing/);
  assert.match(e.message, /pg_terminate_backend\(\d+\)/, 'says what to do if the holder is gone');
  return true;
}

test('two engines (two ledgers) on one table: the second apply is refused at once, naming the first run, and writes nothing; it goes once the first has ended', async () => {
  const a = await engine();
  const b = await engine();
  const planA = await plan(a);
  const planB = await plan(b);
  const runA = await a.engine.startApply({ planId: planA, throttle: gated('a') });
  await waiting(a);
  assert.equal((await lockSessions(runA)).length, 1, 'the run holds its lock on a session of its own');
  await assert.rejects(b.engine.startApply({ planId: planB }), (e) => assertBusy(e, runA));
  assert.equal(b.ledger.runs(10).filter((r) => r.kind === 'apply').length, 0, 'the refused apply left no run behind');
  assert.equal(await lowered(), 0, 'nothing written by either');

  await open('a');
  const doneA = await a.run(runA);
  assert.equal(doneA.status, 'completed', doneA.message ?? '');
  assert.equal(doneA.apply.applied, ROWS);
  assert.equal((await lockSessions(runA)).length, 0, 'the lock session ended with the run');
  const doneB = await b.run(b.engine.startApply({ planId: planB }));
  assert.equal(doneB.status, 'completed', doneB.message ?? '');
  assert.equal(doneB.apply.alreadyApplied, ROWS, 'the second run found every row already written');

  // A rollback is a write run too: it takes the same lock.
  const rbA = await a.engine.startFollowUp('rollback', runA);
  await until(async () => (await lockSessions(rbA)).length === 1, 'the rollback to hold the lock');
  await a.run(rbA);
  const rbB = await b.run(b.engine.startFollowUp('rollback', doneB.id));
  assert.equal(rbB.status, 'completed', rbB.message ?? '');
});

test('the lock is given up when a run is cancelled, paused or fails, and taken again on resume', async () => {
  const a = await engine();
  const b = await engine();
  const planA = await plan(a);
  const planB = await plan(b);

  const cancelled = await a.engine.startApply({ planId: planA, throttle: gated('a') });
  await waiting(a);
  a.engine.request(cancelled, 'cancel');
  assert.equal((await a.run(cancelled)).status, 'cancelled');
  const paused = await b.engine.startApply({ planId: planB, throttle: gated('b') });
  await until(() => b.logs.some((l) => l.includes(`run ${paused}: waiting`)), 'b to wait');
  b.engine.request(paused, 'pause');
  assert.equal((await b.run(paused)).status, 'paused');
  assert.equal((await lockSessions(paused)).length, 0, 'a paused run holds no lock');

  // A throttle query that errors fails the run; its lock goes with it.
  const failing = await a.engine.startApply({ planId: planA, throttle: { healthQuery: 'SELECT no_such_column FROM gate', healthPollMs: 20 } });
  const failed = await a.run(failing);
  assert.equal(failed.status, 'failed');
  assert.match(failed.message!, /throttle query failed/);
  assert.equal((await lockSessions(failing)).length, 0);

  await open('b');
  await b.engine.resume(paused);
  await assert.rejects(a.engine.startApply({ planId: planA }), (e) => assertBusy(e, paused));
  const resumed = await b.run(paused);
  assert.equal(resumed.status, 'completed', resumed.message ?? '');
  assert.equal(await lowered(), ROWS);
});

test('a run whose lock session is cut off takes the lock again before its next batch, or stops without writing when another run took it', async () => {
  const a = await engine();
  const b = await engine();
  const planA = await plan(a);
  const planB = await plan(b);
  const runA = await a.engine.startApply({ planId: planA, throttle: gated('a') });
  await waiting(a);
  const [session] = await lockSessions(runA);
  await s.sql(`SELECT pg_terminate_backend($1)`, [session!.pid]);
  await until(async () => (await lockSessions(runA)).length === 0, 'the lock session to end');
  // Meanwhile another daemon's run takes the lock (and holds it, waiting on its own gate).
  const runB = await b.engine.startApply({ planId: planB, throttle: gated('b') });
  await until(() => b.logs.some((l) => l.includes(`run ${runB}: waiting`)), 'b to wait');
  await open('a');
  const doneA = await a.run(runA);
  assert.equal(doneA.status, 'failed');
  assert.match(doneA.message!, new RegExp(`Another run of lower-email on table people is going.*"redress run ${runB} `));
  assert.equal(await lowered(), 0, 'run A wrote nothing once its lock was gone');

  await open('b');
  assert.equal((await b.run(runB)).status, 'completed');
  // With nobody else holding it, a cut-off lock session is simply replaced.
  const rb = await b.engine.startFollowUp('rollback', runB);
  await b.run(rb);
  await s.sql(`UPDATE gate SET closed = true`);
  const again = await b.engine.startApply({ planId: planB, throttle: gated('b') });
  await until(async () => (await lockSessions(again)).length === 1, 'the run to hold its lock');
  await s.sql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE $1`, [`redress run ${again} %`]);
  await until(async () => (await lockSessions(again)).length === 0, 'the lock session to end');
  await open('b');
  const doneAgain = await b.run(again);
  assert.equal(doneAgain.status, 'completed', doneAgain.message ?? '');
  assert.equal(await lowered(), ROWS);
});

test('two daemons: `redress apply` from the second exits 2 naming the first daemon\'s run; kill -9 of the first frees the lock', async () => {
  const w1 = pgWorkspace(s, 'redress-lock-1-');
  const w2 = pgWorkspace(s, 'redress-lock-2-');
  workspaces.push(w1, w2);
  const d1 = await startTestDaemon(w1 as unknown as Workspace);
  daemons.push(d1);
  const d2 = await startTestDaemon(w2 as unknown as Workspace);
  daemons.push(d2);
  const dry1 = await dryRun(d1.client, w1.correction('lower-email', LOWER));
  const dry2 = await dryRun(d2.client, w2.correction('lower-email', LOWER));
  const { runId } = await d1.client.request('apply', { planId: dry1.planId!, throttle: gated('a') });
  await until(async () => (await lockSessions(runId)).length === 1, 'daemon 1 to hold the lock');

  const cli = (dir: string, ...args: string[]) => spawnSync(process.execPath, [join(__dirname, '..', '..', 'dist', 'cli.js'), '-w', dir, ...args], { encoding: 'utf8', cwd: dir });
  const refused = cli(w2.dir, 'apply', dry2.planId!);
  assert.equal(refused.status, 2, refused.stdout + refused.stderr);
  assert.match(refused.stderr + refused.stdout, new RegExp(`redress run ${runId} pid ${d1.pid}@`));
  assert.equal(await lowered(), 0);

  await d1.kill9();
  daemons.splice(daemons.indexOf(d1), 1);
  // The server ends the dead daemon's session (its socket closed) and frees the lock with it.
  await until(async () => (await lockSessions(runId)).length === 0, 'the server to end the killed daemon\'s session');
  const { runId: second } = await d2.client.request('apply', { planId: dry2.planId! });
  const done = await waitForRun(d2.client, second);
  assert.equal(done.status, 'completed', done.message ?? '');
  assert.equal(await lowered(), ROWS);
});
