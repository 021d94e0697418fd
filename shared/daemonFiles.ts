// The files a workspace's daemon publishes in .redress/, read the same way by the CLI and the extension.
import { readFileSync, watch } from 'node:fs';
import { join } from 'node:path';
import { workspaceConfigOrNull } from './config';
import { RedressError } from './errors';

/** What the daemon publishes in .redress/daemon.json (mode 0600). */
export interface DaemonInfo {
  pid: number;
  port: number;
  secret: string;
  version?: string;
  protocol?: number;
  workspace?: string;
}

export const STATE_DIR = '.redress';

/**
 * Node flags a workspace's daemon starts with: the size of V8's young generation, set at start (V8 sizes it
 * once). SQLite workspaces get 4 MB semi-spaces instead of 16: the batches a long dry-run churns through
 * are collected young, not promoted to wait for a full collection, which (with the daemon's slower heap
 * growth, daemon/main.ts) keeps a 1,000,000-row dry-run near 180 MB instead of 250. PostgreSQL workspaces
 * keep 16 MB: an apply there has two batches in flight and one read ahead, which outlive a small young
 * generation; with 16 MB the daemon spent about a quarter less CPU per applied row (bench/postgres.ts
 * prints it), for about 50 MB more at its peak.
 */
export function daemonNodeFlags(workspace: string): string[] {
  // No or a broken config: the daemon says so when it starts; the flags do not matter then.
  return [`--max-semi-space-size=${workspaceConfigOrNull(workspace)?.target.kind === 'postgres' ? 16 : 4}`];
}

export function daemonInfoPath(workspace: string): string {
  return join(workspace, STATE_DIR, 'daemon.json');
}

export function daemonLogPath(workspace: string): string {
  return join(workspace, STATE_DIR, 'daemon.log');
}

export function readDaemonInfo(workspace: string): DaemonInfo | null {
  try {
    const j = JSON.parse(readFileSync(daemonInfoPath(workspace), 'utf8')) as Partial<DaemonInfo>;
    if (typeof j.pid !== 'number' || typeof j.port !== 'number' || typeof j.secret !== 'string') return null;
    return j as DaemonInfo;
  } catch {
    return null;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Waits (watching the folder, not sleeping) until daemon.json names a live daemon. */
export function waitForInfo(workspace: string, timeoutMs: number): Promise<DaemonInfo> {
  const dir = join(workspace, STATE_DIR);
  return new Promise((resolve, reject) => {
    let watcher: ReturnType<typeof watch> | null = null;
    const finish = (err: Error | null, info?: DaemonInfo) => {
      clearTimeout(timer);
      watcher?.close();
      if (err) reject(err);
      else resolve(info!);
    };
    const check = () => {
      const info = readDaemonInfo(workspace);
      if (info && isAlive(info.pid)) finish(null, info);
    };
    const timer = setTimeout(() => finish(new RedressError('DAEMON_UNAVAILABLE', `Another daemon holds the lock on ${dir} but published no daemon.json within ${Math.round(timeoutMs / 1000)} s. See ${join(dir, 'daemon.log')}.`)), timeoutMs);
    try {
      watcher = watch(dir, () => check());
    } catch {
      /* the folder exists: the other daemon made it */
    }
    check();
  });
}

