// The files a workspace's daemon publishes in .redress/, read the same way by the CLI and the extension.
import { readFileSync, watch } from 'node:fs';
import { join } from 'node:path';
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
 * Node flags every daemon starts with: a small young generation (4 MB semi-spaces instead of 16), so the
 * batches a long run churns through are collected young, not promoted to wait for a full collection.
 * With the daemon's own slower heap growth (daemon/main.ts) this keeps a 1,000,000-row dry-run near
 * 180 MB instead of 250 (npm run bench measures it). Set at start: V8 sizes the young generation once.
 */
export const DAEMON_NODE_FLAGS = ['--max-semi-space-size=4'];

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

