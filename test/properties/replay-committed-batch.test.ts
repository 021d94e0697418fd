// Safety contract 1, second half: replaying a committed batch changes nothing. On random tables and batch
// sizes, through the real daemon:
//  - an apply killed right after the target commit of a random batch k (fault hook), then resumed:
//    exactly batch k's rows come back as already applied, no row is written twice;
//  - the ledger rewound to a random older checkpoint (the run's cursor, counts and outcomes as they were
//    then, the run interrupted), then resumed: every replayed row is already applied, nothing is written;
//  - the same plan applied again: every row already applied, nothing written.
// After each step the table is exactly the plan's after-state (rebuilt from the plan's wire values), and
// an AFTER UPDATE trigger shows each planned row written exactly once in all.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { dryRun, makeWorkspace, runToEnd, startTestDaemon, waitForExit, type RunningDaemon } from '../helpers/harness';
import { daemonGone, daemonLogTail, latestRun, plannedRows, runOrDeath, withDb, withLedgerDb } from '../helpers/lifecycle';
import { assertProperty, correctionSource, createTable, keyStringFromWire, patchesArb, plannedAfterState, readAudit, readExact, shapeArb, tableArb } from '../helpers/tables';
import type { ApplyCounts, Summary } from '../../shared/protocol';

const caseArb = shapeArb({ minRows: 5, maxRows: 150, maxCols: 3 }).chain((shape) =>
  tableArb(shape, 'items').chain((spec) =>
    fc.record({
      spec: fc.constant(spec),
      patches: patchesArb(spec, { changeWeight: 5 }),
      batch: fc.integer({ min: 1, max: 20 }),
      secondBatch: fc.integer({ min: 1, max: 20 }),
      killAt: fc.integer({ min: 0, max: 999 }).map((x) => x / 1000),
      rewindTo: fc.integer({ min: 0, max: 999 }).map((x) => x / 1000),
    }),
  ),
);

test('replaying committed batches (after a kill between commit and checkpoint, from an older checkpoint, or a whole second apply) changes nothing', async () => {
  await assertProperty(
    fc.asyncProperty(caseArb, async ({ spec, patches, batch, secondBatch, killAt, rewindTo }) => {
      const ws = makeWorkspace((db) => createTable(db, spec, { audit: true }), 'redress-replay-');
      let d: RunningDaemon | null = null;
      let step = 'dry-run';
      try {
        const original = withDb(ws, (db) => readExact(db, spec));
        const file = ws.correction('replay', correctionSource({ id: 'replay', spec, patches }));
        // The fault hook fires in apply and rollback loops only: this daemon makes the plan too.
        // Batch k (past the last batch for some cases: never) is chosen before the plan is known.
        const estimate = Math.ceil(patches.filter(Boolean).length / batch);
        const k = 1 + Math.floor(killAt * (estimate + 1));
        d = await startTestDaemon(ws, { env: { ...process.env, REDRESS_FAULT: `after-target-commit:${k}` } });
        const dry = await dryRun(d.client, file, batch);
        const changes = dry.counts.changed;
        const diffs = await plannedRows(d.client, dry.id);
        const planned = new Set(diffs.map((r) => keyStringFromWire(spec, r.key)));
        const expected = plannedAfterState(spec, original, diffs);
        const batches = Math.ceil(changes / batch);
        const state = () => withDb(ws, (db) => readExact(db, spec));
        const writesOnce = (what: string) => {
          for (const [key, n] of withDb(ws, (db) => readAudit(db, spec))) assert.equal(n, planned.has(key) ? 1 : 0, `${what}: row ${JSON.stringify(key)} written ${n} time(s)`);
        };

        // 1. Killed right after the target commit of batch k, resumed.
        step = 'apply killed after a target commit';
        let runId: string;
        let died: boolean;
        try {
          runId = (await d.client.request('apply', { planId: dry.planId!, batchSize: batch })).runId;
          died = 'died' in (await runOrDeath(d, runId, null));
        } catch (e) {
          if (!daemonGone(e)) throw e;
          await waitForExit(d.pid);
          runId = latestRun(ws, 'apply');
          died = true;
        }
        assert.equal(died, k <= batches, `the fault hook fires at batch ${k} of ${batches}`);
        if (died) {
          d = await startTestDaemon(ws);
          assert.equal((await d.client.request('run', { runId })).batchesDone, k - 1, 'the checkpoint is the one before the killed batch');
          step = 'resume after the kill';
          await d.client.request('resume', { runId });
        }
        let run = await runToEnd(d!.client, Promise.resolve({ runId }));
        assert.equal(run.status, 'completed', run.message ?? '');
        const replayed = died ? Math.min(batch, changes - (k - 1) * batch) : 0;
        assert.deepEqual(run.apply, { applied: changes - replayed, alreadyApplied: replayed, drifted: 0 }, 'exactly the killed batch was replayed, all of it already applied');
        assert.deepStrictEqual(state(), expected);
        writesOnce('after the kill and resume');

        // 2. The ledger rewound to an older checkpoint j, as it was then; resumed. (The daemon keeps no
        // copy of a stopped run: resume reads it from the ledger.)
        step = 'rewind';
        const done = run.batchesDone;
        const j = Math.floor(rewindTo * done);
        withLedgerDb(ws, (db) => {
          const at = j === 0 ? null : (JSON.parse((db.prepare("SELECT data FROM events WHERE run_id = ? AND kind = 'progress' ORDER BY seq").all(runId) as { data: string }[])[j - 1]!.data) as { counts: Summary; apply: ApplyCounts });
          const seqs = (db.prepare("SELECT seq FROM plan_rows WHERE run_id = ? AND status = 'changed' ORDER BY seq").all(dry.id) as { seq: number }[]).map((r) => r.seq);
          const cursor = j === 0 ? null : seqs[j * batch - 1]!;
          db.prepare("UPDATE runs SET status = 'interrupted', batches_done = ?, cursor = ?, counts = ?, apply_counts = ? WHERE id = ?").run(
            j,
            cursor === null ? null : JSON.stringify(cursor),
            JSON.stringify(at?.counts ?? { scanned: 0, changed: 0, unchanged: 0, skipped: 0, quarantined: 0, changesPerColumn: {} }),
            JSON.stringify(at?.apply ?? { applied: 0, alreadyApplied: 0, drifted: 0 }),
            runId,
          );
          db.prepare('DELETE FROM row_outcomes WHERE run_id = ? AND seq > ?').run(runId, cursor ?? -1);
        });
        if (!died) {
          // This daemon still has the fault hook (set past the last batch, but a replay counts batches again).
          await d!.stop();
          d = await startTestDaemon(ws);
        }
        const rewound = await d!.client.request('run', { runId });
        assert.deepEqual([rewound.status, rewound.batchesDone], ['interrupted', j]);
        step = 'resume from the older checkpoint';
        await d!.client.request('resume', { runId });
        run = await runToEnd(d!.client, Promise.resolve({ runId }));
        assert.equal(run.status, 'completed', run.message ?? '');
        const again = changes - Math.min(changes, j * batch);
        assert.deepEqual(run.apply, { ...rewound.apply, alreadyApplied: rewound.apply.alreadyApplied + again }, `resumed from checkpoint ${j} of ${done}: the ${again} replayed row(s) were already applied`);
        assert.deepStrictEqual(state(), expected);
        writesOnce('after the resume from an older checkpoint');

        // 3. The whole plan applied again.
        step = 'second apply';
        const second = await runToEnd(d!.client, d!.client.request('apply', { planId: dry.planId!, batchSize: secondBatch }));
        assert.equal(second.status, 'completed', second.message ?? '');
        assert.deepEqual(second.apply, { applied: 0, alreadyApplied: changes, drifted: 0 });
        assert.deepStrictEqual(state(), expected);
        writesOnce('after a second apply');
      } catch (e) {
        throw new Error(`at step "${step}": ${(e as Error).message}\n--- daemon log ---\n${daemonLogTail(ws)}`, { cause: e });
      } finally {
        if (d) await d.kill9();
        ws.cleanup();
      }
    }),
    { numRuns: 30, endOnFailure: true },
  );
});
