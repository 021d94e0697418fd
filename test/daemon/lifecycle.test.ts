// The daemon's life and its runs' controls: one daemon per state folder, no orphans, pause / resume /
// cancel at batch boundaries, schema drift halting a run, and a full ledger losing nothing.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { daemonEntryPath } from '../../daemon/paths';
import { readDaemonInfo } from '../../daemon/launch';
import { dryRun, makeWorkspace, runToEnd, startTestDaemon, tableRows, waitForExit, waitForRun, type Workspace } from '../helpers/harness';

function itemsWorkspace(n: number): Workspace {
  return makeWorkspace((db) => {
    db.exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, writes INTEGER NOT NULL DEFAULT 0)`);
    db.exec(`CREATE TABLE audit (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)`);
    // Counts committed writes per row (a rolled-back write rolls its count back too).
    db.exec(`CREATE TRIGGER count_writes AFTER UPDATE OF name ON items BEGIN INSERT INTO audit VALUES (NEW.id, 1) ON CONFLICT (id) DO UPDATE SET n = n + 1; END`);
    const ins = db.prepare('INSERT INTO items (id, name) VALUES (?, ?)');
    db.transaction(() => {
      for (let i = 1; i <= n; i++) ins.run(i, `Item ${i}`);
    })();
  });
}

const LOWER = `import { defineCorrection } from 'redress';
export default defineCorrection<{ id: number; name: string }>({
  id: 'lower', description: 'lower-case names', target: { table: 'items', key: 'id' }, expects: { name: 'text' },
  transform: (row) => ({ name: row.name.toLowerCase() }), options: { batchSize: 10 },
});`;

test('one daemon per state folder: a second one refuses to start and names the first', async () => {
  const ws = itemsWorkspace(5);
  const d = await startTestDaemon(ws);
  try {
    const second = spawnSync(process.execPath, [daemonEntryPath(), '--workspace', ws.dir], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(second.status, 3);
    assert.match(second.stderr, new RegExp(`Another Redress daemon \\(pid ${d.pid}\\) already serves`));
    assert.equal(readDaemonInfo(ws.dir)!.pid, d.pid, 'the first daemon keeps its connection file');
  } finally {
    await d.stop();
    ws.cleanup();
  }
});

test('no orphans: the daemon exits when idle with no client, and when its owner process is gone', async () => {
  const ws = itemsWorkspace(5);
  try {
    const idle = await startTestDaemon(ws, { idleMs: 300 });
    idle.client.close();
    await waitForExit(idle.pid, 20_000);
    assert.equal(existsSync(join(ws.dir, '.redress', 'daemon.json')), false, 'its connection file is removed');

    const owner = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    const owned = await startTestDaemon(ws, { ownerPid: owner.pid!, idleMs: 600_000 });
    owned.client.close();
    owner.kill('SIGKILL');
    await waitForExit(owned.pid, 20_000);
  } finally {
    ws.cleanup();
  }
});

test('pause, resume and cancel act at batch boundaries; a resumed apply ends as if it had run once', async () => {
  const ws = itemsWorkspace(2000);
  const d = await startTestDaemon(ws);
  try {
    const file = ws.correction('lower', LOWER);
    const plan = await dryRun(d.client, file);
    // A ten-minute pause after every batch holds each run after its first batch (its rollback inherits
    // the pause), so pause and cancel land while it is held, never after it has finished: no race.
    const { runId } = await d.client.request('apply', { planId: plan.planId!, batchSize: 5, throttle: { pauseMs: 600_000 } });
    await d.client.request('pause', { runId });
    const paused = await waitForRun(d.client, runId);
    assert.equal(paused.status, 'paused');
    assert.ok(paused.apply.applied % 5 === 0 && paused.apply.applied <= 5, `stopped on a batch boundary, at most one batch in (${paused.apply.applied})`);
    await d.client.request('resume', { runId });
    await d.client.request('tune', { runId, pauseMs: 0 }); // let the resumed apply go through
    const done = await waitForRun(d.client, runId);
    assert.equal(done.status, 'completed');
    assert.equal(done.apply.applied, 2000);
    const db = ws.db();
    assert.deepEqual(db.prepare('SELECT count(*) AS n, min(n) AS lo, max(n) AS hi FROM audit').get(), { n: 2000n, lo: 1n, hi: 1n }, 'every row written exactly once');
    db.close();

    const rb = await d.client.request('rollback', { runId });
    await d.client.request('cancel', { runId: rb.runId });
    const cancelled = await waitForRun(d.client, rb.runId);
    assert.equal(cancelled.status, 'cancelled');
    assert.ok(cancelled.apply.applied % 5 === 0 && cancelled.apply.applied <= 5, `cancelled at a batch boundary, at most one batch in (${cancelled.apply.applied})`);
    assert.ok(cancelled.counts.scanned < 2000, `scanned ${cancelled.counts.scanned} of 2000`);
    const restored = tableRows(ws.db(), 'items', 'id').filter((x) => x.name !== String(x.name).toLowerCase()).length;
    assert.equal(restored, cancelled.apply.applied, 'exactly the committed batches were restored; the rest stay applied');
  } finally {
    await d.stop();
    ws.cleanup();
  }
});

test('schema drift mid-run: a column added while an apply runs halts it before its next batch, naming the change', async () => {
  const ws = itemsWorkspace(3000);
  const d = await startTestDaemon(ws);
  try {
    const plan = await dryRun(d.client, ws.correction('lower', LOWER));
    const { runId } = await d.client.request('apply', { planId: plan.planId!, batchSize: 5 });
    const db = ws.db();
    db.exec('ALTER TABLE items ADD COLUMN note TEXT');
    db.close();
    const r = await waitForRun(d.client, runId);
    assert.equal(r.status, 'halted');
    assert.match(r.message!, /The schema of "items" changed since this run was planned: column "note" was added/);
    assert.ok(r.apply.applied < 3000);
    const rows = tableRows(ws.db(), 'items', 'id');
    const lowered = rows.filter((x) => x.name === String(x.name).toLowerCase()).length;
    assert.equal(lowered, r.apply.applied, 'exactly the committed batches were written');
  } finally {
    await d.stop();
    ws.cleanup();
  }
});

test('a full ledger: the apply stops with a LEDGER error that says what to do; after space is freed, resume finishes exactly once', async () => {
  const ws = itemsWorkspace(2000);
  let d = await startTestDaemon(ws);
  const plan = await dryRun(d.client, ws.correction('lower', LOWER));
  await d.stop();
  // Fault injection: the ledger may grow by only a few pages, as on a disk that fills up.
  d = await startTestDaemon(ws, { env: { ...process.env, REDRESS_LEDGER_EXTRA_PAGES: '3' } });
  try {
    const r = await runToEnd(d.client, d.client.request('apply', { planId: plan.planId!, batchSize: 5 }));
    assert.equal(r.status, 'failed');
    await d.stop();
    const log = spawnSync('tail', ['-n', '20', join(ws.dir, '.redress', 'daemon.log')], { encoding: 'utf8' }).stdout;
    assert.match(log, /Free disk space or fix permissions, then resume the run; nothing was lost/);
    d = await startTestDaemon(ws);
    await d.client.request('resume', { runId: r.id });
    const done = await waitForRun(d.client, r.id);
    assert.equal(done.status, 'completed');
    assert.equal(done.apply.applied + done.apply.alreadyApplied, 2000);
    const db = ws.db();
    assert.deepEqual(db.prepare('SELECT count(*) AS n, max(n) AS hi FROM audit').get(), { n: 2000n, hi: 1n }, 'every row written exactly once');
    db.close();
    const v = await d.client.request('ledgerVerify', {});
    assert.ok(v.ok, v.problems.join('\n'));
  } finally {
    await d.stop();
    ws.cleanup();
  }
});
