// Finds the workspace's daemon, or starts one and waits for its ready line (never a sleep).
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { DaemonClient } from '../shared/client';
import { RedressError } from '../shared/errors';
import { daemonNodeFlags, readDaemonInfo, waitForInfo } from '../shared/daemonFiles';
import { daemonEntryPath } from './paths';

export { readDaemonInfo };

/** Connects to the running daemon, if there is one that answers. */
export async function connectExisting(workspace: string, client = 'redress-cli'): Promise<DaemonClient | null> {
  const info = readDaemonInfo(workspace);
  if (!info) return null;
  try {
    return await DaemonClient.connect(info, client);
  } catch {
    return null;
  }
}

export interface StartOptions {
  nodePath?: string;
  ownerPid?: number;
  idleMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** Starts a daemon for the workspace and resolves when it is ready; rejects with its own words if it fails. */
export function startDaemon(workspace: string, o: StartOptions = {}): Promise<{ pid: number; port: number }> {
  const args = [...daemonNodeFlags(workspace), daemonEntryPath(), '--workspace', workspace];
  if (o.ownerPid) args.push('--owner-pid', String(o.ownerPid));
  if (o.idleMs) args.push('--idle-ms', String(o.idleMs));
  const child = spawn(o.nodePath ?? process.execPath, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: o.env ?? process.env });
  return new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const lines = createInterface({ input: child.stdout! });
    const done = (err: Error | null, v?: { pid: number; port: number }) => {
      lines.close();
      child.stdout!.destroy();
      child.stderr!.destroy();
      child.removeAllListeners('close');
      child.unref();
      if (err) reject(err);
      else resolve(v!);
    };
    let failed: { code: string; message: string } | null = null;
    lines.on('line', (l) => {
      if (l.startsWith('REDRESS_READY ')) done(null, JSON.parse(l.slice('REDRESS_READY '.length)));
      else if (l.startsWith('REDRESS_FAILED ')) failed = JSON.parse(l.slice('REDRESS_FAILED '.length)) as { code: string; message: string };
    });
    // 'close', not 'exit': by then every line the daemon printed has been read.
    child.once('close', (code) => {
      // A folder that is not a workspace, or a target that cannot be opened, is bad input, not a daemon fault.
      if (failed && (failed.code === 'CONFIG' || failed.code === 'TARGET')) return done(new RedressError(failed.code, failed.message));
      done(new RedressError('DAEMON_UNAVAILABLE', `The daemon exited (code ${code}) before it was ready: ${stderr.trim().replace(/\.$/, '') || 'no message'}. See .redress/daemon.log.`, { exitCode: code }));
    });
    child.once('error', (e) => done(new RedressError('DAEMON_UNAVAILABLE', `Cannot start the daemon: ${e.message}.`)));
  });
}

/** The CLI's way in: the running daemon, or a new one. */
export async function ensureDaemon(workspace: string, o: StartOptions = {}): Promise<DaemonClient> {
  const existing = await connectExisting(workspace);
  if (existing) return existing;
  try {
    await startDaemon(workspace, o);
  } catch (e) {
    // Exit code 3: another CLI or editor window started the daemon a moment before us. Use that one.
    if (!(e instanceof RedressError && e.data?.exitCode === 3)) throw e;
    return DaemonClient.connect(await waitForInfo(workspace, 30_000));
  }
  const info = readDaemonInfo(workspace);
  if (!info) throw new RedressError('DAEMON_UNAVAILABLE', 'The daemon started but wrote no .redress/daemon.json. See .redress/daemon.log.');
  return DaemonClient.connect(info);
}
