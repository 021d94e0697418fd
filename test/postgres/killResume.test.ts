// kill -9 of the daemon during an apply on PostgreSQL, at the worst moment (a batch committed on the
// target, its checkpoint not yet in the ledger): resume finishes the run and every row is written once.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { dryRun, startTestDaemon, waitForRun, type RunningDaemon, type Workspace } from '../helpers/harness';
import { accountsWithWriteLog, lowerAccountEmailCorrection, pgSchema, pgWorkspace, type PgSchema } from '../helpers/pg';

let s: PgSchema;
let ws: ReturnType<typeof pgWorkspace>;
const daemons: RunningDaemon[] = [];

before(async () => {
  s = await pgSchema('kill');
  // Logs every write a row receives (in another table, so the rows themselves hold only what Redress wrote).
  await accountsWithWriteLog(s, 40);
  ws = pgWorkspace(s);
});
after(async () => {
  for (const d of daemons) await d.stop().catch(() => {});
  ws?.cleanup();
  await s?.drop();
});

test('kill -9 after a batch committed on PostgreSQL but before its checkpoint: resume completes, each row written exactly once', async () => {
  const file = ws.correction('lower-email', lowerAccountEmailCorrection(25));
  const d1 = await startTestDaemon(ws as unknown as Workspace, { env: { ...process.env, REDRESS_FAULT: 'after-target-commit:2' } });
  daemons.push(d1);
  const dry = await dryRun(d1.client, file);
  assert.equal(dry.counts.changed, 120);
  // One batch at a time, so exactly two batches are on the target at the kill (batches written at once:
  // test/properties/concurrent-apply-killed-writes-each-row-once.test.ts).
  const { runId } = await d1.client.request('apply', { planId: dry.planId!, concurrency: 1 });
  await new Promise<void>((resolve) => (d1.client.onClose = () => resolve())); // the daemon killed itself
  await d1.kill9();
  const mid = (await s.sql(`SELECT count(*)::int AS n FROM writes`)).rows[0]!.n;
  assert.equal(mid, 50, 'two batches committed on the target before the kill');

  const d2 = await startTestDaemon(ws as unknown as Workspace);
  daemons.push(d2);
  const interrupted = await d2.client.request('run', { runId });
  assert.equal(interrupted.status, 'interrupted');
  assert.equal(interrupted.batchesDone, 1, 'the second batch committed on the target, not in the ledger');
  await d2.client.request('resume', { runId });
  const done = await waitForRun(d2.client, runId);
  assert.equal(done.status, 'completed', done.message ?? '');
  assert.equal(done.apply.applied + done.apply.alreadyApplied, 120);
  assert.equal(done.apply.alreadyApplied, 25, 'the replayed batch found its rows already written');
  const perRow = (await s.sql(`SELECT n, count(*)::int AS keys FROM (SELECT count(*)::int AS n FROM writes GROUP BY region, id) w GROUP BY n`)).rows;
  assert.deepEqual(perRow, [{ n: 1, keys: 120 }], 'every row updated exactly once');
  assert.equal((await s.sql(`SELECT count(*)::int AS n FROM accounts WHERE email <> lower(email)`)).rows[0]!.n, 0);
});
