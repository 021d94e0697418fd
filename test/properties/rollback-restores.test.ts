// Safety contract 4, reversible: rollback after apply restores the original table exactly — every value
// with its SQLite storage class (read with safe integers, compared with typeof(col)) — on random tables,
// random batch sizes and canary slices. Also when the apply was cut off by kill -9 and never resumed
// (rolled back as it was left, or cancelled first): rows the apply committed are restored, wherever the
// kill landed, including between the target commit and the ledger checkpoint, canary slices included.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { dryRun, makeWorkspace, runToEnd, startTestDaemon, waitForExit, type RunningDaemon, type Workspace } from '../helpers/harness';
import { daemonGone, daemonLogTail, latestRun, runOrDeath, withDb } from '../helpers/lifecycle';
import { assertProperty, correctionSource, createTable, patchesArb, readAudit, readExact, shapeArb, tableArb } from '../helpers/tables';

let ws: Workspace;
let d: RunningDaemon;

before(async () => {
  ws = makeWorkspace(() => {}, 'redress-rollback-');
  d = await startTestDaemon(ws);
});
after(async () => {
  await d?.stop();
  ws?.cleanup();
});

test('rollback after apply restores the original table exactly, value and storage class', async () => {
  let n = 0;
  const caseArb = shapeArb({ minRows: 1, maxRows: 120 })
    .chain((shape) => tableArb(shape, 't'))
    .chain((spec) =>
      fc.record({
        spec: fc.constant(spec),
        patches: patchesArb(spec),
        batch: fc.integer({ min: 1, max: 20 }),
        canary: fc.oneof(fc.constant(undefined), fc.integer({ min: 0, max: 100 })),
      }),
    );
  await assertProperty(
    fc.asyncProperty(caseArb, async ({ spec: generated, patches, batch, canary }) => {
      const spec = { ...generated, table: `t${++n}` }; // one table per case in the shared target
      withDb(ws, (db) => createTable(db, spec, { audit: true }));
      const original = withDb(ws, (db) => readExact(db, spec));
      const file = ws.correction(spec.table, correctionSource({ id: `rollback-${spec.table}`, spec, patches }));
      const dry = await dryRun(d.client, file, batch);
      const applied = await runToEnd(d.client, d.client.request('apply', { planId: dry.planId!, batchSize: batch, ...(canary !== undefined ? { canaryPercent: canary } : {}) }));
      assert.equal(applied.status, 'completed', applied.message ?? '');
      assert.equal(applied.apply.drifted, 0);
      if (canary === undefined || canary === 100) assert.equal(applied.apply.applied, dry.counts.changed);
      const rolled = await runToEnd(d.client, d.client.request('rollback', { runId: applied.id }));
      assert.equal(rolled.status, 'completed', rolled.message ?? '');
      assert.deepEqual(rolled.apply, { applied: applied.apply.applied, alreadyApplied: 0, drifted: 0 });
      assert.deepStrictEqual(withDb(ws, (db) => readExact(db, spec)), original);
      // Each row the apply wrote was written once more by the rollback, and no other row was touched.
      const writes = [...withDb(ws, (db) => readAudit(db, spec)).values()];
      assert.ok(writes.every((w) => w === 0 || w === 2), `writes per row: ${writes.join(',')}`);
      assert.equal(writes.filter((w) => w === 2).length, applied.apply.applied);
      const verified = await runToEnd(d.client, d.client.request('verify', { runId: rolled.id }));
      assert.deepEqual([verified.apply.applied, verified.apply.drifted], [applied.apply.applied, 0]);
    }),
    { numRuns: 50, endOnFailure: true },
  );
});

type Cut = { how: 'after-target-commit' | 'after-checkpoint' | 'delay'; at: number; cancelFirst: boolean };

test('rollback of an apply cut off by kill -9 and never resumed restores the original table exactly', async (t) => {
  const stats = { cases: 0, died: 0, diedBetweenCommitAndCheckpoint: 0, cancelledFirst: 0 };
  const caseArb = shapeArb({ minRows: 10, maxRows: 120, maxCols: 3 }).chain((shape) =>
    tableArb(shape, 'items').chain((spec) =>
      fc.record({
        spec: fc.constant(spec),
        patches: patchesArb(spec, { changeWeight: 6 }),
        batch: fc.integer({ min: 1, max: 20 }),
        cut: fc.record({
          how: fc.constantFrom<Cut['how']>('after-target-commit', 'after-target-commit', 'after-checkpoint', 'delay'),
          at: fc.integer({ min: 0, max: 999 }).map((x) => x / 1000),
          cancelFirst: fc.boolean(),
        }),
        canary: fc.oneof({ arbitrary: fc.constant(100), weight: 2 }, { arbitrary: fc.integer({ min: 1, max: 99 }), weight: 1 }),
      }),
    ),
  );
  await assertProperty(
    fc.asyncProperty(caseArb, async ({ spec, patches, batch, cut, canary }) => {
      const w = makeWorkspace((db) => createTable(db, spec, { audit: true }), 'redress-rollback-cut-');
      let k: RunningDaemon | null = null;
      try {
        const original = withDb(w, (db) => readExact(db, spec));
        const file = w.correction('cut', correctionSource({ id: 'cut', spec, patches }));
        const estimate = Math.max(1, Math.ceil((patches.filter(Boolean).length * canary) / 100 / batch));
        const faultAt = 1 + Math.floor(cut.at * estimate);
        k = await startTestDaemon(w, cut.how === 'delay' ? {} : { env: { ...process.env, REDRESS_FAULT: `${cut.how}:${faultAt}` } });
        const dry = await dryRun(k.client, file, batch);
        let runId: string;
        let died = false;
        try {
          runId = (await k.client.request('apply', { planId: dry.planId!, batchSize: batch, canaryPercent: canary })).runId;
        } catch (e) {
          if (!daemonGone(e)) throw e;
          await waitForExit(k.pid);
          runId = latestRun(w, 'apply');
          died = true;
        }
        if (!died) died = 'died' in (await runOrDeath(k, runId, cut.how === 'delay' ? cut.at * (estimate * 1.5 + 5) : null));
        stats.cases++;
        if (died) {
          stats.died++;
          if (cut.how === 'after-target-commit') stats.diedBetweenCommitAndCheckpoint++;
          k = await startTestDaemon(w);
        }
        const run = await k.client.request('run', { runId });
        assert.ok(died ? run.status === 'interrupted' || run.status === 'completed' : run.status === 'completed', run.status);
        if (cut.cancelFirst && run.status === 'interrupted') {
          stats.cancelledFirst++;
          assert.equal((await k.client.request('cancel', { runId })).status, 'cancelled');
        }
        const rolled = await runToEnd(k.client, k.client.request('rollback', { runId }));
        assert.equal(rolled.status, 'completed', rolled.message ?? '');
        assert.equal(rolled.apply.drifted, 0);
        const after = withDb(w, (db) => readExact(db, spec));
        const writes = withDb(w, (db) => readAudit(db, spec));
        const stillChanged = original.filter((r, i) => JSON.stringify(after[i], big) !== JSON.stringify(r, big)).map((r) => [r.key, writes.get(r.key)]);
        assert.deepStrictEqual(after, original, `rows left changed after the rollback of an apply cut off (${cut.how}, batch ${faultAt} of ~${estimate}, batch size ${batch}, canary ${canary}%, ${run.status}${cut.cancelFirst ? ', cancelled' : ''}): ${JSON.stringify(stillChanged.slice(0, 5))}`);
        assert.ok([...writes.values()].every((n) => n === 0 || n === 2));
      } catch (e) {
        throw new Error(`${(e as Error).message}\n--- daemon log ---\n${daemonLogTail(w)}`, { cause: e });
      } finally {
        if (k) await k.kill9();
        w.cleanup();
      }
    }),
    { numRuns: 25, endOnFailure: true },
  );
  t.diagnostic(`cut-off stats: ${JSON.stringify(stats)}`);
  assert.ok(stats.diedBetweenCommitAndCheckpoint >= 3, JSON.stringify(stats));
});

const big = (_k: string, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v);
