// Daemon lives and deaths for the property tests: wait for a run to stop or the daemon to die, read the
// ledger while no daemon is up, and drive the engine in-process (for reference runs).
import Database from 'better-sqlite3';
import { copyFileSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { DaemonClient } from '../../shared/client';
import { RedressError } from '../../shared/errors';
import type { RunSummary } from '../../shared/protocol';
import { readConfig } from '../../daemon/config';
import { Engine } from '../../daemon/engine/engine';
import { Ledger } from '../../daemon/ledger/ledger';
import { stateDir } from '../../daemon/paths';
import { openTarget } from '../../daemon/targets/open';
import { waitForExit, waitForRun, type RunningDaemon, type Workspace } from './harness';

export const ledgerPath = (ws: Workspace) => join(stateDir(ws.dir), 'ledger.sqlite');

export type LifeEnd = { ended: RunSummary } | { died: true };

/**
 * Resolves when the run stops in this daemon, or when the daemon dies (its own fault hook, or our
 * kill -9 after `killAfterMs`). After a death the process is gone when this resolves.
 */
export function runOrDeath(d: RunningDaemon, runId: string, killAfterMs: number | null): Promise<LifeEnd> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let timer: NodeJS.Timeout | null = null;
    const finish = (v: LifeEnd | Error) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      if (v instanceof Error) reject(v);
      else resolve(v);
    };
    const died = () =>
      waitForExit(d.pid).then(
        () => finish({ died: true }),
        (e: Error) => finish(e),
      );
    // Once our kill -9 is under way the daemon is gone, even if the run's end reaches us first.
    let killing = false;
    d.client.onClose = () => void died();
    waitForRun(d.client, runId).then(
      (r) => (killing ? void died() : finish({ ended: r })),
      () => void died(),
    );
    if (killAfterMs !== null) {
      timer = setTimeout(() => {
        if (settled) return;
        killing = true;
        void d.kill9().then(died, (e: Error) => finish(e));
      }, killAfterMs);
    }
  });
}

/** A run's row in the ledger, read directly (only while no daemon has the workspace). */
export function ledgerRun(ws: Workspace, runId: string): { status: string; batchesDone: number; cursor: unknown } {
  const db = new Database(ledgerPath(ws));
  try {
    const r = db.prepare('SELECT status, batches_done, cursor FROM runs WHERE id = ?').get(runId) as { status: string; batches_done: number; cursor: string | null };
    return { status: r.status, batchesDone: r.batches_done, cursor: r.cursor ? JSON.parse(r.cursor) : null };
  } finally {
    db.close();
  }
}

/** Runs SQL on the ledger directly (only while no daemon has the workspace). */
export function withLedgerDb<T>(ws: Workspace, fn: (db: Database.Database) => T): T {
  const db = new Database(ledgerPath(ws));
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** The engine in this process on the workspace's ledger and target (only while no daemon has it). */
export async function withEngine<T>(ws: Workspace, fn: (engine: Engine, ledger: Ledger) => Promise<T>): Promise<T> {
  const ledger = new Ledger(ledgerPath(ws));
  const target = await openTarget(readConfig(ws.dir).target, ws.dir);
  try {
    return await fn(new Engine(ledger, target, ws.dir), ledger);
  } finally {
    await target.close();
    ledger.close();
  }
}

/** Replaces the target file with a copy taken earlier (no process may have it open). */
export function restoreTarget(ws: Workspace, copy: string): void {
  rmSync(ws.dbPath + '-wal', { force: true });
  rmSync(ws.dbPath + '-shm', { force: true });
  copyFileSync(copy, ws.dbPath);
}

/** The last lines of the workspace's daemon log, for failure messages. */
export function daemonLogTail(ws: Workspace, lines = 15): string {
  try {
    return readFileSync(join(stateDir(ws.dir), 'daemon.log'), 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no daemon log)';
  }
}

/** Planned (changed) rows of a dry-run, through the protocol. */
export async function plannedRows(c: DaemonClient, dryRunId: string) {
  const out = [];
  for (let offset = 0; ; offset += 5000) {
    const page = await c.request('diffs', { runId: dryRunId, status: 'changed', limit: 5000, offset });
    out.push(...page.rows);
    if (out.length >= page.total || page.rows.length === 0) return out;
  }
}

/** Opens the workspace's target (safe integers), runs fn, closes it. */
export function withDb<T>(ws: Workspace, fn: (db: Database.Database) => T): T {
  const db = ws.db();
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** The error a request gets when the daemon died before answering. */
export function daemonGone(e: unknown): boolean {
  return e instanceof RedressError && e.code === 'DAEMON_UNAVAILABLE';
}

/** The newest run of a kind in the ledger, read directly (only while no daemon has the workspace). */
export function latestRun(ws: Workspace, kind: string): string {
  return withLedgerDb(ws, (db) => (db.prepare('SELECT id FROM runs WHERE kind = ? ORDER BY created_at DESC, rowid DESC LIMIT 1').get(kind) as { id: string }).id);
}
