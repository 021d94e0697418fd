// Regression (found by test/properties/rollback-restores.test.ts): an apply killed between the target
// commit of a batch and its ledger checkpoint, then rolled back without a resume (or cancelled, then
// rolled back), left that batch's rows changed: rollback restored only the checkpointed range. The batch
// after the checkpoint of a run cut off there is now restored too (compare-and-set: rows it had not
// written are already in their before-state and are left alone).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dryRun, makeWorkspace, runToEnd, startTestDaemon, waitForExit, type RunningDaemon } from '../helpers/harness';
import { daemonGone, latestRun } from '../helpers/lifecycle';

for (const cancelFirst of [false, true]) {
  test(`rollback restores the batch committed just before a kill -9${cancelFirst ? ', after the interrupted run is cancelled' : ''}`, async () => {
    const ws = makeWorkspace((db) => {
      db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)');
      const ins = db.prepare('INSERT INTO t VALUES (?, ?)');
      for (let i = 1; i <= 10; i++) ins.run(BigInt(i), BigInt(i));
    });
    let d: RunningDaemon | null = null;
    try {
      const file = ws.correction(
        'double',
        `import { defineCorrection } from 'redress';
export default defineCorrection<{ id: number; v: number }>({
  id: 'double', description: 'double v', target: { table: 't', key: 'id' }, expects: { v: 'integer' },
  transform: (row) => ({ v: row.v * 2 }),
});`,
      );
      // Batches of 3: the daemon kills itself right after batch 2 commits on the target, before its checkpoint.
      d = await startTestDaemon(ws, { env: { ...process.env, REDRESS_FAULT: 'after-target-commit:2' } });
      const dry = await dryRun(d.client, file);
      let runId: string;
      try {
        runId = (await d.client.request('apply', { planId: dry.planId!, batchSize: 3 })).runId;
        await waitForExit(d.pid);
      } catch (e) {
        if (!daemonGone(e)) throw e;
        await waitForExit(d.pid);
        runId = latestRun(ws, 'apply');
      }
      const db = ws.db();
      const values = () => (db.prepare('SELECT v FROM t ORDER BY id').all() as { v: bigint }[]).map((r) => Number(r.v));
      assert.deepEqual(values(), [2, 4, 6, 8, 10, 12, 7, 8, 9, 10], 'batches 1 and 2 are on the target');

      d = await startTestDaemon(ws);
      const run = await d.client.request('run', { runId });
      assert.deepEqual([run.status, run.batchesDone], ['interrupted', 1], 'the checkpoint covers batch 1 only');
      if (cancelFirst) assert.equal((await d.client.request('cancel', { runId })).status, 'cancelled');
      const rolled = await runToEnd(d.client, d.client.request('rollback', { runId }));
      assert.equal(rolled.status, 'completed');
      assert.deepEqual(rolled.apply, { applied: 6, alreadyApplied: 0, drifted: 0 });
      assert.deepEqual(values(), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      const verified = await runToEnd(d.client, d.client.request('verify', { runId: rolled.id }));
      assert.deepEqual([verified.apply.applied, verified.apply.drifted], [6, 0]);
      db.close();
    } finally {
      await d?.stop();
      ws.cleanup();
    }
  });
}
