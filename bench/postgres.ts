// Redress on PostgreSQL: a 1,000,000-row table, a correction lowercasing a text column.
//   1. one set-based UPDATE (the baseline), on an identical copy of the table; three times, on three
//      fresh copies, before, between and after the Redress runs: the ratios use the median, since one
//      UPDATE's time moves by a third between runs on this machine;
//   2. Redress apply: compare-and-set per row, before-images (the plan), checkpoints, one transaction per batch,
//      two batches at once (the default); then its rollback, then the same plan again with batches adapting
//      to a target duration, and once more one batch at a time (--concurrency 1);
//   3. the per-row loop teams write today (SELECT, then UPDATE, one autocommit statement each), timed on
//      50,000 rows and scaled.
// Prints rows/s and each against the baseline, measured in the same run on this machine.
// `npm run bench` runs it after the SQLite bench (bench/run.ts); alone:
//   node --import tsx bench/postgres.ts   (BENCH_PG_ROWS, BENCH_LOOP_ROWS, BENCH_BATCH, BENCH_ADAPT_MS, REDRESS_TEST_PG)
// An unreachable server is an error that says so and how to start it (pgSchema), never a silent skip.
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { dryRun, runToEnd, startTestDaemon, type Workspace } from '../test/helpers/harness';
import { pgSchema, pgWorkspace } from '../test/helpers/pg';

const ROWS = Number(process.env.BENCH_PG_ROWS ?? process.env.BENCH_ROWS ?? 1_000_000);
const LOOP_ROWS = Math.min(ROWS, Number(process.env.BENCH_LOOP_ROWS ?? 50_000));
const BATCH = Number(process.env.BENCH_BATCH ?? 2000);
// The same plan applied again with `throttle.targetBatchMs` (the batch size grows from BATCH while
// batches finish faster than this, up to 10,000 rows): how a long backfill would usually run.
const ADAPT_MS = Number(process.env.BENCH_ADAPT_MS ?? 100);

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
/** A process's CPU time so far (user + system, every thread), from /proc: where an apply's time goes. */
const daemonCpuMs = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ = 100)
};
const line = (label: string, value: string) => console.log(`${label.padEnd(64)} ${value}`);

export async function postgresBench(): Promise<void> {
  console.log(`Redress on PostgreSQL — ${ROWS.toLocaleString('en-US')} rows, batches of ${BATCH}, Node ${process.version}\n`);
  const s = await pgSchema('bench');
  try {
    const baselines = ['items_baseline_1', 'items_baseline_2', 'items_baseline_3'];
    for (const t of ['items', ...baselines, 'items_loop']) {
      await s.sql(`CREATE TABLE ${t} (id int8 PRIMARY KEY, name text NOT NULL, qty int4 NOT NULL, price numeric(10,2), updated timestamptz NOT NULL)`);
    }
    await s.sql(`INSERT INTO items SELECT i, 'Item ' || i || ' Of The Catalogue', i % 97, (i % 1000) / 10.0, '2024-01-01 00:00:00+00'::timestamptz + i * interval '1 second' FROM generate_series(1, ${ROWS}) i`);
    for (const b of baselines) await s.sql(`INSERT INTO ${b} SELECT * FROM items`);
    await s.sql(`INSERT INTO items_loop SELECT * FROM items WHERE id <= ${LOOP_ROWS}`);
    await s.sql(`VACUUM ANALYZE items, ${baselines.join(', ')}, items_loop`);
    await s.sql(`CHECKPOINT`).catch(() => {});

    // ---- 1. set-based UPDATE, the first of three ----
    const baselineRuns: number[] = [];
    const baseline = async () => {
      const table = baselines[baselineRuns.length]!;
      await s.sql('CHECKPOINT').catch(() => {});
      const t0 = performance.now();
      const base = await s.sql(`UPDATE ${table} SET name = lower(name) WHERE name <> lower(name)`);
      const ms = performance.now() - t0;
      if (base.rowCount !== ROWS) throw new Error(`baseline updated ${base.rowCount} rows`);
      baselineRuns.push(ms);
      line(`set-based UPDATE (baseline ${baselineRuns.length} of 3)`, `${fmt(ms)} ms  ${fmt((ROWS / ms) * 1000)} rows/s`);
    };
    await baseline();
    let t: number;

    // ---- 2. Redress ----
    const ws = pgWorkspace(s, 'redress-bench-pg-');
    const file = ws.correction(
      'lower-names',
      `import { defineCorrection } from 'redress';
export default defineCorrection<{ id: number; name: string }>({
  id: 'lower-names', description: 'lower-case item names',
  target: { table: 'items', key: 'id' }, expects: { name: 'text' },
  transform: (row) => ({ name: row.name.toLowerCase() }),
  options: { batchSize: ${BATCH}, sampleSize: 100 },
});`,
    );
    const d = await startTestDaemon(ws as unknown as Workspace);
    try {
      t = performance.now();
      const dry = await dryRun(d.client, file);
      const dryMs = performance.now() - t;
      line('Redress dry-run (read, transform, diff, plan, checkpoints)', `${fmt(dryMs)} ms  ${fmt((dry.counts.scanned / dryMs) * 1000)} rows/s`);
      await s.sql('CHECKPOINT').catch(() => {});
      const cpu0 = daemonCpuMs(d.pid);
      t = performance.now();
      const applied = await runToEnd(d.client, d.client.request('apply', { planId: dry.planId! }));
      const applyMs = performance.now() - t;
      if (applied.apply.applied !== ROWS) throw new Error(`apply wrote ${applied.apply.applied} rows, expected ${ROWS}: ${applied.message}`);
      line('Redress apply (compare-and-set, before-images, checkpoints; 2 at once)', `${fmt(applyMs)} ms  ${fmt((ROWS / applyMs) * 1000)} rows/s`);
      const cpuMs = daemonCpuMs(d.pid) - cpu0;
      line('  the daemon\'s CPU time during it (all its threads)', `${fmt(cpuMs)} ms  ${((cpuMs * 1000) / ROWS).toFixed(1)} us per row`);
      const same = async () => {
        const r = await s.sql(`SELECT count(*)::int AS n FROM items i JOIN items_baseline_1 b USING (id) WHERE i.name = b.name`);
        if (r.rows[0]!.n !== ROWS) throw new Error('Redress and the set-based UPDATE disagree');
      };
      await same();
      await baseline();

      // ---- 2b. rollback, then the same plan with batches that adapt to a target duration ----
      await s.sql('CHECKPOINT').catch(() => {});
      t = performance.now();
      const rolledBack = await runToEnd(d.client, d.client.request('rollback', { runId: applied.id }));
      const rollbackMs = performance.now() - t;
      if (rolledBack.apply.applied !== ROWS) throw new Error(`rollback restored ${rolledBack.apply.applied} rows: ${rolledBack.message}`);
      line('Redress rollback (compare-and-set from the before-images)', `${fmt(rollbackMs)} ms  ${fmt((ROWS / rollbackMs) * 1000)} rows/s`);
      await s.sql('CHECKPOINT').catch(() => {});
      t = performance.now();
      const adaptive = await runToEnd(d.client, d.client.request('apply', { planId: dry.planId!, throttle: { targetBatchMs: ADAPT_MS } }));
      const adaptiveMs = performance.now() - t;
      if (adaptive.apply.applied !== ROWS) throw new Error(`adaptive apply wrote ${adaptive.apply.applied} rows: ${adaptive.message}`);
      line(`Redress apply, batches adapting to ${ADAPT_MS} ms (up to 10,000 rows)`, `${fmt(adaptiveMs)} ms  ${fmt((ROWS / adaptiveMs) * 1000)} rows/s`);
      await same();
      await baseline();

      // ---- 2c. what writing two batches at once buys: the same plan, one batch at a time ----
      const undo = await runToEnd(d.client, d.client.request('rollback', { runId: adaptive.id }));
      if (undo.apply.applied !== ROWS) throw new Error(`rollback restored ${undo.apply.applied} rows: ${undo.message}`);
      await s.sql('CHECKPOINT').catch(() => {});
      t = performance.now();
      const serial = await runToEnd(d.client, d.client.request('apply', { planId: dry.planId!, concurrency: 1 }));
      const serialMs = performance.now() - t;
      if (serial.apply.applied !== ROWS) throw new Error(`apply wrote ${serial.apply.applied} rows: ${serial.message}`);
      line('Redress apply, one batch at a time (--concurrency 1)', `${fmt(serialMs)} ms  ${fmt((ROWS / serialMs) * 1000)} rows/s`);
      await same();
      const baselineMs = [...baselineRuns].sort((a, b) => a - b)[1]!;
      line('set-based UPDATE, median of the three (the baseline below)', `${fmt(baselineMs)} ms  ${fmt((ROWS / baselineMs) * 1000)} rows/s`);

      // ---- 3. per-row loop ----
      const c = new pg.Client({ connectionString: s.url });
      await c.connect();
      t = performance.now();
      for (let id = 1; id <= LOOP_ROWS; id++) {
        const r = await c.query<{ name: string }>('SELECT name FROM items_loop WHERE id = $1', [id]);
        const name = r.rows[0]!.name;
        if (name !== name.toLowerCase()) await c.query('UPDATE items_loop SET name = $2 WHERE id = $1', [id, name.toLowerCase()]);
      }
      const loopMs = ((performance.now() - t) * ROWS) / LOOP_ROWS;
      await c.end();
      line(`per-row SELECT + UPDATE loop (${fmt(LOOP_ROWS)} rows, scaled)`, `${fmt(loopMs)} ms  ${fmt((ROWS / loopMs) * 1000)} rows/s`);

      console.log('');
      line('Redress apply / set-based UPDATE', `${(applyMs / baselineMs).toFixed(2)}x   (target <= 2.5)`);
      line(`Redress apply, batches adapting to ${ADAPT_MS} ms / set-based UPDATE`, `${(adaptiveMs / baselineMs).toFixed(2)}x`);
      line('Redress rollback / set-based UPDATE', `${(rollbackMs / baselineMs).toFixed(2)}x`);
      line('Redress apply, one batch at a time / set-based UPDATE', `${(serialMs / baselineMs).toFixed(2)}x`);
      line('per-row loop / set-based UPDATE', `${(loopMs / baselineMs).toFixed(2)}x`);
      line('per-row loop / Redress apply', `${(loopMs / applyMs).toFixed(2)}x`);
      line('(dry-run + apply) / set-based UPDATE', `${((dryMs + applyMs) / baselineMs).toFixed(2)}x`);
    } finally {
      await d.stop();
      ws.cleanup();
    }
  } finally {
    await s.drop();
  }
}

if (require.main === module) {
  postgresBench().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
