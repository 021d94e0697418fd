// npm run bench — figures and ratios against baselines measured in the same run, on this machine.
//  1. Apply on a 1,000,000-row SQLite table, lowercasing a text column: Redress (compare-and-set,
//     before-images, checkpoints) against one set-based SQL UPDATE.
//  2. Preview of a 10,000-row table: request to first diff, warm.
//  3. The daemon's peak RSS during the 1,000,000-row dry-run.
//  4. PostgreSQL (bench/postgres.ts): apply on a 1,000,000-row table against one set-based UPDATE and
//     against a per-row SELECT + UPDATE loop (50,000 rows, scaled). Needs the server at REDRESS_TEST_PG
//     (default postgres://postgres@127.0.0.1:5432/test); if it is unreachable the bench says so and exits 1.
import Database from 'better-sqlite3';
import { copyFileSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { dryRun, makeWorkspace, runToEnd, startTestDaemon } from '../test/helpers/harness';
import { postgresBench } from './postgres';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const PREVIEW_ROWS = 10_000;
const BATCH = Number(process.env.BENCH_BATCH ?? 2000);

function fill(db: Database.Database, n: number): void {
  db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER NOT NULL, price REAL)');
  const ins = db.prepare('INSERT INTO items VALUES (?, ?, ?, ?)');
  db.transaction(() => {
    for (let i = 1; i <= n; i++) ins.run(i, `Item ${i} Of The Catalogue`, i % 97, (i % 1000) / 10);
  })();
}

const LOWER = `import { defineCorrection } from 'redress';
export default defineCorrection<{ id: number; name: string }>({
  id: 'lower-names', description: 'lower-case item names',
  target: { table: 'items', key: 'id' }, expects: { name: 'text' },
  transform: (row) => ({ name: row.name.toLowerCase() }),
  options: { batchSize: ${BATCH}, sampleSize: 100 },
});`;

const peakRss = (pid: number) => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const line = (label: string, value: string) => console.log(`${label.padEnd(58)} ${value}`);

async function main(): Promise<void> {
  console.log(`Redress benchmark — ${ROWS.toLocaleString('en-US')} rows, batches of ${BATCH}, Node ${process.version}\n`);

  // ---- 1. apply vs set-based UPDATE ----
  const ws = makeWorkspace((db) => fill(db, ROWS), 'redress-bench-');
  const baselineFile = `${ws.dir}/baseline.sqlite`;
  copyFileSync(ws.dbPath, baselineFile);
  {
    const db = new Database(baselineFile);
    db.pragma('journal_mode = WAL');
    const t = performance.now();
    const r = db.prepare('UPDATE items SET name = lower(name) WHERE name <> lower(name)').run();
    const ms = performance.now() - t;
    db.close();
    var baselineMs = ms;
    line('set-based UPDATE (baseline)', `${fmt(ms)} ms  ${fmt((r.changes / ms) * 1000)} rows/s`);
  }

  const file = ws.correction('lower-names', LOWER);
  const d = await startTestDaemon(ws);
  let t = performance.now();
  const dry = await dryRun(d.client, file);
  const dryMs = performance.now() - t;
  const rssDry = peakRss(d.pid);
  line('Redress dry-run (transform, diff, plan, checkpoints)', `${fmt(dryMs)} ms  ${fmt((dry.counts.scanned / dryMs) * 1000)} rows/s`);

  t = performance.now();
  const applied = await runToEnd(d.client, d.client.request('apply', { planId: dry.planId! }));
  const applyMs = performance.now() - t;
  if (applied.apply.applied !== ROWS) throw new Error(`apply wrote ${applied.apply.applied} rows, expected ${ROWS}`);
  line('Redress apply (compare-and-set, before-images, checkpoints)', `${fmt(applyMs)} ms  ${fmt((ROWS / applyMs) * 1000)} rows/s`);

  t = performance.now();
  const rolled = await runToEnd(d.client, d.client.request('rollback', { runId: applied.id }));
  const rollbackMs = performance.now() - t;
  if (rolled.apply.applied !== ROWS) throw new Error(`rollback restored ${rolled.apply.applied} rows, expected ${ROWS}`);
  line('Redress rollback', `${fmt(rollbackMs)} ms  ${fmt((ROWS / rollbackMs) * 1000)} rows/s`);
  await d.stop();
  ws.cleanup();

  // ---- 2. preview latency on a 10,000-row table ----
  const pws = makeWorkspace((db) => fill(db, PREVIEW_ROWS), 'redress-bench-preview-');
  const pfile = pws.correction('lower-names', LOWER);
  const pd = await startTestDaemon(pws);
  await pd.client.request('preview', { correction: pfile, params: {} }); // cold
  const times: number[] = [];
  let daemonMs: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now();
    const r = await pd.client.request('preview', { correction: pfile, params: {} });
    times.push(performance.now() - t0);
    daemonMs.push(r.durationMs);
    if (r.diffs.length === 0) throw new Error('preview returned no diffs');
  }
  await pd.stop();
  pws.cleanup();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

  console.log('');
  line('apply / set-based UPDATE', `${(applyMs / baselineMs).toFixed(2)}x   (target <= 4)`);
  line('(dry-run + apply) / set-based UPDATE', `${((dryMs + applyMs) / baselineMs).toFixed(2)}x`);
  line('rollback / set-based UPDATE', `${(rollbackMs / baselineMs).toFixed(2)}x`);
  line(`preview of ${PREVIEW_ROWS.toLocaleString('en-US')} rows, request to first diff (warm median)`, `${median(times).toFixed(0)} ms  (daemon part ${median(daemonMs).toFixed(0)} ms; target < 200 ms)`);
  line(`daemon peak RSS during the ${ROWS.toLocaleString('en-US')}-row dry-run`, `${rssDry.toFixed(0)} MB  (target < 250 MB)`);

  // ---- 4. PostgreSQL ----
  console.log('');
  try {
    await postgresBench();
  } catch (e) {
    console.error(`\nThe PostgreSQL bench did not run to its end: ${(e as Error).message}`);
    console.error('The SQLite figures above stand; fix the cause and run `npm run bench` again (or `node --import tsx bench/postgres.ts` for PostgreSQL only).');
    process.exitCode = 1;
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
