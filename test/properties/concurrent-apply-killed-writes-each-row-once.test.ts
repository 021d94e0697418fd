// Safety contract 1 with batches written at once (PostgreSQL, `concurrency` 1 to 4): kill -9 the daemon
// right after a batch commits on the target (before its checkpoint) or right after a checkpoint, while
// other batches may be in flight. Then:
//  - the rows committed past the checkpoint are at most `concurrency` batches (what a rollback of a
//    cut-off run counts on: appliedRange);
//  - a resume finishes the run with every planned row written exactly once (an AFTER UPDATE trigger
//    logs every committed write), the rows committed past the checkpoint found already written;
//  - or a rollback without a resume restores the table exactly, every written row included.
// Each case starts real daemons, so failures are not shrunk (endOnFailure); the report gives the seed.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { dryRun, startTestDaemon, waitForExit, waitForRun, type RunningDaemon, type Workspace } from '../helpers/harness';
import { daemonGone, latestRun } from '../helpers/lifecycle';
import { accountsWithWriteLog, lowerAccountEmailCorrection, pgSchema, pgWorkspace, tableText, type PgSchema } from '../helpers/pg';
import { assertProperty } from '../helpers/tables';

const ROWS = 120;
let s: PgSchema;
let ws: ReturnType<typeof pgWorkspace>;
let original: string[];
let planId: string;
const daemons: RunningDaemon[] = [];

before(async () => {
  s = await pgSchema('lanes_kill');
  await accountsWithWriteLog(s, ROWS / 3);
  await s.sql(`CREATE TABLE accounts_original AS SELECT * FROM accounts`);
  original = await tableText(s, 'accounts', 'region, id');
  ws = pgWorkspace(s, 'redress-lanes-kill-');
  const file = ws.correction('lower-email', lowerAccountEmailCorrection());
  const d = await startTestDaemon(ws as unknown as Workspace);
  try {
    const dry = await dryRun(d.client, file);
    assert.equal(dry.counts.changed, ROWS);
    planId = dry.planId!;
  } finally {
    await d.stop();
  }
});
after(async () => {
  for (const d of daemons) await d.stop().catch(() => {});
  ws?.cleanup();
  await s?.drop();
});

const caseArb = fc.record({
  concurrency: fc.integer({ min: 1, max: 4 }),
  batch: fc.integer({ min: 4, max: 30 }),
  how: fc.constantFrom('after-target-commit', 'after-checkpoint'),
  at: fc.integer({ min: 0, max: 999 }).map((x) => x / 1000),
  then: fc.constantFrom('resume' as const, 'rollback' as const),
});

test('an apply writing batches at once, killed after a commit or a checkpoint: at most `concurrency` batches past the checkpoint, and resume or rollback leaves each row right', async () => {
  await assertProperty(
    fc.asyncProperty(caseArb, async ({ concurrency, batch, how, at, then }) => {
      await s.sql(`UPDATE accounts a SET email = o.email FROM accounts_original o WHERE (a.region, a.id) = (o.region, o.id) AND a.email <> o.email`);
      await s.sql(`TRUNCATE writes`);
      const batches = Math.ceil(ROWS / batch);
      const k = 1 + Math.floor(at * batches); // 1..batches: the fault always fires
      const d1 = await startTestDaemon(ws as unknown as Workspace, { env: { ...process.env, REDRESS_FAULT: `${how}:${k}` } });
      daemons.push(d1);
      const died = new Promise<void>((resolve) => (d1.client.onClose = () => resolve()));
      let runId: string;
      try {
        runId = (await d1.client.request('apply', { planId, batchSize: batch, concurrency })).runId;
        await died;
      } catch (e) {
        if (!daemonGone(e)) throw e;
        await waitForExit(d1.pid);
        runId = latestRun(ws as unknown as Workspace, 'apply');
      }
      await d1.kill9();
      const committed = (await s.sql(`SELECT count(*)::int AS n FROM writes`)).rows[0].n as number;

      const d2 = await startTestDaemon(ws as unknown as Workspace);
      daemons.push(d2);
      try {
        const cut = await d2.client.request('run', { runId });
        assert.equal(cut.status, 'interrupted');
        const checkpointed = cut.apply.applied;
        assert.equal(checkpointed, Math.min(ROWS, cut.batchesDone * batch), 'the checkpoint counts whole batches in plan order');
        assert.ok(committed >= checkpointed, `every checkpointed row is on the table (${committed} committed, ${checkpointed} checkpointed)`);
        assert.ok(committed - checkpointed <= concurrency * batch, `at most ${concurrency} batch(es) past the checkpoint (${committed} committed, ${checkpointed} checkpointed)`);
        if (how === 'after-target-commit') assert.ok(committed > checkpointed, 'the batch that fired the fault committed but was not checkpointed');

        if (then === 'resume') {
          await d2.client.request('resume', { runId });
          const done = await waitForRun(d2.client, runId);
          assert.equal(done.status, 'completed', done.message ?? '');
          assert.equal(done.apply.applied + done.apply.alreadyApplied, ROWS);
          assert.equal(done.apply.alreadyApplied, committed - checkpointed, 'the rows committed past the checkpoint were found already written');
          const perRow = (await s.sql(`SELECT n, count(*)::int AS keys FROM (SELECT count(*)::int AS n FROM writes GROUP BY region, id) w GROUP BY n`)).rows;
          assert.deepEqual(perRow, [{ n: 1, keys: ROWS }], 'every row written exactly once');
          assert.equal((await s.sql(`SELECT count(*)::int AS n FROM accounts WHERE email <> lower(email)`)).rows[0].n, 0);
        } else {
          const { runId: rbId } = await d2.client.request('rollback', { runId });
          const rb = await waitForRun(d2.client, rbId);
          assert.equal(rb.status, 'completed', rb.message ?? '');
          assert.equal(rb.apply.applied, committed, 'every row the apply wrote was restored');
          assert.deepEqual(await tableText(s, 'accounts', 'region, id'), original);
        }
      } finally {
        await d2.stop();
      }
    }),
    { numRuns: 12, endOnFailure: true },
  );
});
