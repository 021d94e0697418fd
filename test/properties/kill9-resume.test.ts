// Safety contract 1, exactly-once effect: kill -9 the real daemon at a random point during apply, any
// number of times, start a new daemon and resume the interrupted run each time. The table must end
// exactly as an uninterrupted apply of the same plan leaves it, and every planned row must have been
// written exactly once (an AFTER UPDATE trigger counts committed writes per row; its write rolls back
// with the batch that fired it). Kills land at varied points: an outside kill -9 after a random delay,
// and the daemon's fault hook right after the target commit and before the ledger checkpoint (the
// most dangerous window), or right after the checkpoint. Some cases apply a canary slice only. Also: a restarted daemon reports the cut-off
// run as interrupted, the ledger's event chain still verifies, and rolling the run back restores the
// original table exactly. The reference apply runs in this process (the engine, same ledger and file).
// Each case starts real daemons, so failures are not shrunk (endOnFailure); the report gives the seed
// and path to replay one.
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import { dryRun, makeWorkspace, runToEnd, startTestDaemon, waitForExit, type RunningDaemon } from '../helpers/harness';
import { daemonGone, daemonLogTail, latestRun, ledgerRun, plannedRows, restoreTarget, runOrDeath, withDb, withEngine } from '../helpers/lifecycle';
import { assertProperty, correctionSource, createTable, keyString, keyStringFromWire, patchesArb, readAudit, readExact, shapeArb, tableArb } from '../helpers/tables';

type Kill = { how: 'after-target-commit' | 'after-checkpoint' | 'delay'; at: number };

const killArb: fc.Arbitrary<Kill> = fc.record({
  how: fc.oneof(
    { arbitrary: fc.constant('after-target-commit' as const), weight: 3 },
    { arbitrary: fc.constant('after-checkpoint' as const), weight: 1 },
    { arbitrary: fc.constant('delay' as const), weight: 3 },
  ),
  at: fc.integer({ min: 0, max: 999 }).map((x) => x / 1000),
});

const caseArb = shapeArb({ minRows: 20, maxRows: 200, maxCols: 3 }).chain((shape) =>
  tableArb(shape, 'items').chain((spec) =>
    fc.record({
      spec: fc.constant(spec),
      patches: patchesArb(spec),
      dryBatch: fc.integer({ min: 1, max: 20 }),
      batch: fc.integer({ min: 1, max: 20 }),
      refBatch: fc.integer({ min: 1, max: 20 }),
      kills: fc.array(killArb, { minLength: 1, maxLength: 4 }),
      canary: fc.oneof({ arbitrary: fc.constant(100), weight: 3 }, { arbitrary: fc.integer({ min: 0, max: 99 }), weight: 1 }),
    }),
  ),
);

/** Roughly how long one apply batch takes on a small table (measured: ~1.5 ms), for outside kills. */
const BATCH_MS = 1.5;

const stats = { cases: 0, deaths: 0, byHow: { 'after-target-commit': 0, 'after-checkpoint': 0, delay: 0 } as Record<Kill['how'], number>, completedBeforeKill: 0, maxDeaths: 0 };

test('kill -9 of the daemon anywhere during apply, resumed any number of times: the table ends as one uninterrupted apply leaves it, each row written once', async (t) => {
  let seq = 0;
  await assertProperty(
    fc.asyncProperty(caseArb, async ({ spec, patches, dryBatch, batch, refBatch, kills, canary }) => {
      const ws = makeWorkspace((db) => createTable(db, spec, { audit: true }), 'redress-kill9-');
      let d: RunningDaemon | null = null;
      let step = 'setup';
      try {
        const pristine = ws.dbPath + '.pristine';
        copyFileSync(ws.dbPath, pristine);
        const original = withDb(ws, (db) => readExact(db, spec));
        const file = ws.correction('kill9', correctionSource({ id: `kill9-${++seq}`, spec, patches }));
        const patchedRows = patches.filter(Boolean).length;
        let remaining = Math.ceil((patchedRows * canary) / 100 / batch); // an estimate until the plan is known
        let batchesDone = 0;
        /** How the daemon of life i dies: its fault hook's env, or the delay of an outside kill -9. */
        const life = (i: number) => {
          const k = kills[i];
          if (!k) return { env: undefined, killAfterMs: null };
          const offset = Math.floor(k.at * (remaining + 1)); // == remaining: past the last batch, no kill
          if (k.how === 'delay') return { env: undefined, killAfterMs: k.at * (remaining * BATCH_MS + 10) };
          return { env: { ...process.env, REDRESS_FAULT: `${k.how}:${batchesDone + 1 + offset}` }, killAfterMs: null };
        };

        let l = life(0);
        step = 'first daemon';
        d = await startTestDaemon(ws, l.env ? { env: l.env } : {});
        const dry = await dryRun(d.client, file, dryBatch);
        const changes = dry.counts.changed;
        const planned = new Set((await plannedRows(d.client, dry.id)).map((r) => keyStringFromWire(spec, r.key)));
        assert.equal(planned.size, changes);
        const patchedKeys = new Set(spec.rows.filter((_, i) => patches[i]).map((r) => keyString(spec.keys.map((k) => r[k.name]))));
        for (const k of planned) assert.ok(patchedKeys.has(k), `the plan changes row ${JSON.stringify(k)}, which the transform leaves alone`);
        const batchesEstimate = Math.ceil((changes * canary) / 100 / batch); // a canary slice writes ~canary% of the rows
        remaining = batchesEstimate;
        l = life(0);
        step = 'apply';
        // The first batch may commit (and the fault hook fire) before the answer to apply goes out.
        let runId: string;
        let alive = true;
        try {
          runId = (await d.client.request('apply', { planId: dry.planId!, batchSize: batch, canaryPercent: canary })).runId;
        } catch (e) {
          if (!daemonGone(e)) throw e;
          await waitForExit(d.pid);
          runId = latestRun(ws, 'apply');
          alive = false;
        }

        let deaths = 0;
        for (;;) {
          step = 'waiting for the run or a death';
          if (alive) {
            const end = await runOrDeath(d, runId, l.killAfterMs);
            if ('ended' in end) {
              if (deaths < kills.length) stats.completedBeforeKill++;
              break;
            }
          }
          stats.byHow[kills[deaths]!.how]++;
          deaths++;
          batchesDone = ledgerRun(ws, runId).batchesDone;
          remaining = Math.max(0, batchesEstimate - batchesDone);
          l = life(deaths);
          step = 'restart after a kill';
          d = await startTestDaemon(ws, l.env ? { env: l.env } : {});
          const r = await d.client.request('run', { runId });
          if (r.status === 'completed') break;
          assert.equal(r.status, 'interrupted', `after a restart the cut-off run is interrupted, not ${r.status}`);
          try {
            await d.client.request('resume', { runId });
            alive = true;
          } catch (e) {
            if (!daemonGone(e)) throw e;
            await waitForExit(d.pid);
            alive = false;
          }
        }
        stats.cases++;
        stats.deaths += deaths;
        stats.maxDeaths = Math.max(stats.maxDeaths, deaths);

        step = 'checking the finished run';
        const run = await d.client.request('run', { runId });
        assert.equal(run.status, 'completed', `${run.status}: ${run.message}\n${daemonLogTail(ws)}`);
        assert.equal(run.apply.drifted, 0, 'nobody else wrote: nothing drifts');
        if (canary === 100) assert.equal(run.apply.applied + run.apply.alreadyApplied, changes, 'every planned row is accounted for once');
        if (deaths === 0) assert.equal(run.apply.alreadyApplied, 0);
        const chain = await d.client.request('ledgerVerify', {});
        assert.ok(chain.ok, `the ledger chain survives kill -9: ${chain.problems.join('; ')}`);

        const final = withDb(ws, (db) => readExact(db, spec));
        const writes = withDb(ws, (db) => readAudit(db, spec));
        const slice = run.apply.applied + run.apply.alreadyApplied; // the rows in the canary slice
        for (const [key, n] of writes) assert.ok(n <= (planned.has(key) ? 1 : 0), `row ${JSON.stringify(key)} was written ${n} time(s) over ${deaths} kill(s)`);
        assert.equal([...writes.values()].reduce((a, b) => a + b, 0), slice, 'each row of the slice was written exactly once');

        // The same run rolled back restores the original exactly (replayed rows included). The fault
        // hook fires in rollback too: a daemon that still has one is stopped and the engine rolls back here.
        step = 'rollback';
        let rolled: { status: string; message: string | null; apply: { applied: number; drifted: number } };
        if (l.env) {
          await d.stop();
          d = null;
          rolled = await withEngine(ws, async (engine, ledger) => {
            const id = await engine.startFollowUp('rollback', runId);
            await engine.settled(id);
            return ledger.requireRun(id);
          });
        } else {
          rolled = await runToEnd(d.client, d.client.request('rollback', { runId }));
          await d.stop();
          d = null;
        }
        assert.equal(rolled.status, 'completed', `${rolled.message}`);
        assert.deepEqual([rolled.apply.applied, rolled.apply.drifted], [slice, 0]);
        assert.deepStrictEqual(withDb(ws, (db) => readExact(db, spec)), original, 'rollback after a killed and resumed apply restores the original table');

        // Reference: the same plan applied without interruption to the original table.
        step = 'reference apply';
        restoreTarget(ws, pristine);
        await withEngine(ws, async (engine, ledger) => {
          const refId = await engine.startApply({ planId: dry.planId!, batchSize: refBatch, canaryPercent: canary });
          await engine.settled(refId);
          const ref = ledger.requireRun(refId);
          assert.equal(ref.status, 'completed', `reference apply: ${ref.message}`);
          assert.deepEqual(ref.apply, { applied: slice, alreadyApplied: 0, drifted: 0 });
        });
        assert.deepStrictEqual(final, withDb(ws, (db) => readExact(db, spec)), 'the killed and resumed apply leaves the table as an uninterrupted apply does');
        assert.deepStrictEqual(writes, withDb(ws, (db) => readAudit(db, spec)));
      } catch (e) {
        if (d) await d.kill9();
        d = null;
        throw new Error(`at step "${step}": ${(e as Error).message}\n--- daemon log ---\n${daemonLogTail(ws)}`, { cause: e });
      } finally {
        if (d) await d.stop();
        ws.cleanup();
      }
    }),
    { numRuns: 50, endOnFailure: true },
  );
  t.diagnostic(`kill9 stats: ${JSON.stringify(stats)}`);
  assert.ok(stats.byHow['after-target-commit'] >= 5, 'enough kills landed between the target commit and the checkpoint');
  assert.ok(stats.byHow.delay >= 5, 'enough outside kills landed during apply');
});
