// Test harness: temp workspaces with a real SQLite target, a real daemon process, a real WebSocket.
import Database from 'better-sqlite3';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DaemonClient } from '../../shared/client';
import { FINAL_STATUSES, type RunSummary } from '../../shared/protocol';
import { readDaemonInfo, startDaemon, type StartOptions } from '../../daemon/launch';

export interface Workspace {
  dir: string;
  dbPath: string;
  /** Writes corrections/<name>.correction.ts and returns its path. */
  correction(name: string, source: string): string;
  db(): Database.Database;
  cleanup(): void;
}

/** A temp workspace whose target is a fresh SQLite file; `setup` creates tables in it. */
export function makeWorkspace(setup: (db: Database.Database) => void, prefix = 'redress-test-'): Workspace {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const dbPath = join(dir, 'target.sqlite');
  const db = new Database(dbPath);
  db.pragma('journal_mode = WAL');
  setup(db);
  db.close();
  writeFileSync(join(dir, 'redress.config.json'), JSON.stringify({ target: { kind: 'sqlite', path: 'target.sqlite' } }));
  mkdirSync(join(dir, 'corrections'));
  return {
    dir,
    dbPath,
    correction(name, source) {
      const p = join(dir, 'corrections', `${name}.correction.ts`);
      writeFileSync(p, source);
      return p;
    },
    db() {
      const d = new Database(dbPath);
      d.defaultSafeIntegers(true);
      return d;
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface RunningDaemon {
  pid: number;
  port: number;
  client: DaemonClient;
  /** Another connection to the same daemon. */
  connect(): Promise<DaemonClient>;
  /** Graceful stop through the protocol; resolves when the process has exited. */
  stop(): Promise<void>;
  /** kill -9, then wait for the process to be gone. */
  kill9(): Promise<void>;
}

export async function startTestDaemon(ws: Workspace, o: StartOptions = {}): Promise<RunningDaemon> {
  const { pid, port } = await startDaemon(ws.dir, { idleMs: 120_000, ...o });
  const info = readDaemonInfo(ws.dir)!;
  const client = await DaemonClient.connect(info, 'test');
  const gone = () => waitForExit(pid);
  return {
    pid,
    port,
    client,
    connect: () => DaemonClient.connect(info, 'test'),
    async stop() {
      try {
        await client.request('shutdown', {});
      } catch {
        /* already closing */
      }
      client.close();
      await gone();
    },
    async kill9() {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
      client.close();
      await gone();
    },
  };
}

export async function waitForExit(pid: number, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    if (Date.now() > until) throw new Error(`process ${pid} did not exit within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Subscribes to a run and resolves with its summary once it stops (completed, failed, paused, ...). */
export async function waitForRun(c: DaemonClient, runId: string): Promise<RunSummary> {
  return new Promise((resolve, reject) => {
    const done = (r: RunSummary) => FINAL_STATUSES.includes(r.status) || r.status === 'paused' || r.status === 'interrupted';
    const check = () =>
      c.request('run', { runId }).then((r) => {
        if (done(r)) {
          off();
          resolve(r);
        }
      }, reject);
    const off = c.onEvent((e) => {
      if (e.runId === runId && e.kind !== 'progress' && e.kind !== 'started' && e.kind !== 'resumed') void check();
    });
    c.request('subscribe', { runId, fromSeq: 0 }).then(check, reject);
  });
}

/** dry-run then return the completed run (throws if it did not complete). */
export async function dryRun(c: DaemonClient, correction: string, batchSize?: number): Promise<RunSummary> {
  const { runId } = await c.request('dryRun', { correction, params: {}, ...(batchSize ? { batchSize } : {}) });
  const r = await waitForRun(c, runId);
  if (r.status !== 'completed') throw new Error(`dry-run ${runId} ended ${r.status}: ${r.message}`);
  return r;
}

export async function runToEnd(c: DaemonClient, start: Promise<{ runId: string }>): Promise<RunSummary> {
  const { runId } = await start;
  return waitForRun(c, runId);
}

/** Every row of a table in key order, values exactly as stored (integers as bigint). */
export function tableRows(db: Database.Database, table: string, orderBy: string): Record<string, unknown>[] {
  return db.prepare(`SELECT * FROM "${table}" ORDER BY ${orderBy}`).all() as Record<string, unknown>[];
}
