// Finding or starting the workspace's daemon, from the extension host. No vscode here (unit-tested
// with real and fixture daemons). The extension host's own Node may not be the user's: the daemon
// runs on a Node found on PATH or named in the settings (see findNode), never on the editor's runtime.
import { spawn, execFile } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import { DaemonClient } from '../shared/client';
import { RedressError } from '../shared/errors';

export { STATE_DIR, daemonInfoPath, daemonLogPath, isAlive, readDaemonInfo, waitForInfo, type DaemonInfo } from '../shared/daemonFiles';
import { daemonInfoPath, daemonNodeFlags, daemonLogPath, isAlive, readDaemonInfo, waitForInfo, type DaemonInfo } from '../shared/daemonFiles';

// ---------- which Node runs the daemon ----------

export interface NodeInfo {
  path: string;
  version: string;
  /** NODE_MODULE_VERSION: native modules are built per ABI. */
  abi: string;
  platform: string;
  arch: string;
}

function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Candidates in order: the setting, then `node` on PATH, then the usual install places. */
export function nodeCandidates(setting: string, env: NodeJS.ProcessEnv = process.env): string[] {
  if (setting.trim()) return [setting.trim()];
  const names = process.platform === 'win32' ? ['node.exe'] : ['node'];
  const dirs = (env.PATH ?? '').split(delimiter).filter(Boolean);
  const extra = process.platform === 'win32' ? [] : ['/usr/local/bin', '/usr/bin', '/opt/homebrew/bin'];
  const seen = new Set<string>();
  const out: string[] = [];
  for (const d of [...dirs, ...extra]) {
    for (const n of names) {
      const p = join(d, n);
      if (!seen.has(p) && executable(p)) {
        seen.add(p);
        out.push(p);
      }
    }
  }
  return out;
}

/** Asks a Node binary what it is (version, native ABI); rejects with a message a person can act on. */
export function probeNode(path: string, timeoutMs = 10_000): Promise<NodeInfo> {
  const script = 'process.stdout.write(JSON.stringify({version:process.version,abi:process.versions.modules,platform:process.platform,arch:process.arch,electron:process.versions.electron||null}))';
  return new Promise((resolve, reject) => {
    execFile(path, ['-e', script], { timeout: timeoutMs, env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' } }, (err, stdout) => {
      if (err) return reject(new RedressError('DAEMON_UNAVAILABLE', `Cannot run Node at ${path}: ${err.message}. Set redress.nodePath to a Node.js 20 or newer.`));
      try {
        const j = JSON.parse(stdout) as { version: string; abi: string; platform: string; arch: string };
        const major = Number(/^v(\d+)/.exec(j.version)?.[1] ?? 0);
        if (major < 20) return reject(new RedressError('DAEMON_UNAVAILABLE', `${path} is Node ${j.version}; the Redress daemon needs Node 20 or newer. Set redress.nodePath.`));
        resolve({ path, version: j.version, abi: j.abi, platform: j.platform, arch: j.arch });
      } catch {
        reject(new RedressError('DAEMON_UNAVAILABLE', `${path} did not answer like Node.js. Set redress.nodePath to a Node.js 20 or newer.`));
      }
    });
  });
}

/** The first candidate that is a usable Node, or a clear error naming what was tried. */
export async function findNode(setting: string, env: NodeJS.ProcessEnv = process.env): Promise<NodeInfo> {
  const candidates = nodeCandidates(setting, env);
  if (candidates.length === 0) {
    throw new RedressError('DAEMON_UNAVAILABLE', 'No Node.js found on PATH to run the Redress daemon. Install Node.js 20 or newer, or set redress.nodePath.');
  }
  const problems: string[] = [];
  for (const c of candidates) {
    try {
      return await probeNode(c);
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  throw new RedressError('DAEMON_UNAVAILABLE', problems.join(' '));
}

// ---------- connecting, or starting a daemon ----------

export interface LaunchOptions {
  workspace: string;
  /** dist/daemon.js of the extension. */
  daemonEntry: string;
  node: string;
  /** Added to the daemon's environment (e.g. REDRESS_SQLITE_BINDING). */
  env?: NodeJS.ProcessEnv;
  /** The daemon exits once this process is gone and no client is connected (no orphans). */
  ownerPid: number;
  idleMs?: number;
  startTimeoutMs: number;
  /** Timeout for the WebSocket handshake and the hello request. */
  connectTimeoutMs?: number;
  clientName?: string;
  log: (line: string) => void;
}

export interface Connected {
  client: DaemonClient;
  info: DaemonInfo;
  /** True when this call started the daemon (false: another window or the CLI did). */
  started: boolean;
}

/** The running daemon if one answers; else a new one, started and awaited on its ready line. */
export async function connectOrStart(o: LaunchOptions): Promise<Connected> {
  const existing = await connectExisting(o);
  if (existing) return existing;
  const started = await spawnDaemon(o);
  if (started === 'lost-race') {
    // Another window (or the CLI) took the daemon lock a moment before us: use its daemon.
    const info = await waitForInfo(o.workspace, o.startTimeoutMs);
    return { client: await DaemonClient.connect(info, o.clientName ?? 'redress-vscode', o.connectTimeoutMs ?? 5000), info, started: false };
  }
  const info = readDaemonInfo(o.workspace);
  if (!info || info.pid !== started.pid) {
    throw new RedressError('DAEMON_UNAVAILABLE', `The daemon (pid ${started.pid}) said it was ready but ${daemonInfoPath(o.workspace)} does not name it. See ${daemonLogPath(o.workspace)}.`);
  }
  return { client: await DaemonClient.connect(info, o.clientName ?? 'redress-vscode', o.connectTimeoutMs ?? 5000), info, started: true };
}

async function connectExisting(o: LaunchOptions): Promise<Connected | null> {
  const info = readDaemonInfo(o.workspace);
  if (!info || !isAlive(info.pid)) return null;
  try {
    return { client: await DaemonClient.connect(info, o.clientName ?? 'redress-vscode', o.connectTimeoutMs ?? 5000), info, started: false };
  } catch (e) {
    const err = e as RedressError;
    // A daemon that is alive but answers wrongly (other protocol, stuck) is not replaced silently:
    // two daemons on one ledger is what the lock forbids. Say what is wrong.
    if (err.code === 'PROTOCOL_VERSION' || err.code === 'BAD_FRAME') throw err;
    if (err.code === 'DAEMON_UNAVAILABLE' && /did not answer/.test(err.message)) {
      throw new RedressError('DAEMON_UNAVAILABLE', `The daemon (pid ${info.pid}) accepts connections but does not answer. Restart it (Redress: Restart Daemon) or look at ${daemonLogPath(o.workspace)}.`);
    }
    o.log(`daemon.json names pid ${info.pid} on port ${info.port}, which does not answer (${err.message}); starting a new daemon`);
    return null;
  }
}

function spawnDaemon(o: LaunchOptions): Promise<{ pid: number; port: number } | 'lost-race'> {
  if (!existsSync(o.daemonEntry)) {
    return Promise.reject(new RedressError('DAEMON_UNAVAILABLE', `The daemon is missing from the extension (${o.daemonEntry}). Reinstall the extension.`));
  }
  const args = [...daemonNodeFlags(o.workspace), o.daemonEntry, '--workspace', o.workspace, '--owner-pid', String(o.ownerPid)];
  if (o.idleMs) args.push('--idle-ms', String(o.idleMs));
  o.log(`starting the daemon: ${o.node} ${args.join(' ')}`);
  const env = { ...process.env, ...o.env };
  delete env.ELECTRON_RUN_AS_NODE;
  delete env.NODE_OPTIONS;
  const child = spawn(o.node, args, { cwd: o.workspace, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
  return new Promise((resolve, reject) => {
    let stderr = '';
    let settled = false;
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => {
      done(new RedressError('DAEMON_UNAVAILABLE', `The daemon did not say it was ready within ${Math.round(o.startTimeoutMs / 1000)} s; it was stopped. ${stderr.trim() ? `It said: ${stderr.trim()}. ` : ''}See ${daemonLogPath(o.workspace)}.`));
      try {
        process.kill(child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, o.startTimeoutMs);
    const done = (err: Error | null, v?: { pid: number; port: number } | 'lost-race') => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      lines.close();
      child.stdout!.destroy();
      child.stderr!.destroy();
      child.removeAllListeners('exit');
      child.unref();
      if (err) reject(err);
      else resolve(v!);
    };
    lines.on('line', (l) => {
      if (!l.startsWith('REDRESS_READY ')) return;
      try {
        const r = JSON.parse(l.slice('REDRESS_READY '.length)) as { pid: number; port: number };
        done(null, r);
      } catch {
        done(new RedressError('DAEMON_UNAVAILABLE', `The daemon printed a ready line that is not JSON: ${l.slice(0, 200)}`));
      }
    });
    child.once('exit', (code, signal) => {
      if (code === 3) return done(null, 'lost-race');
      done(new RedressError('DAEMON_UNAVAILABLE', `The daemon exited (${signal ?? `code ${code}`}) before it was ready: ${explainStartFailure(stderr)} See ${daemonLogPath(o.workspace)}.`, { code, stderr }));
    });
    child.once('error', (e) => done(new RedressError('DAEMON_UNAVAILABLE', `Cannot start the daemon with ${o.node}: ${e.message}. Set redress.nodePath to a Node.js 20 or newer.`)));
  });
}

/** Turns the daemon's dying words into a sentence a person can act on. */
export function explainStartFailure(stderr: string): string {
  const s = stderr.trim();
  if (/NODE_MODULE_VERSION|was compiled against a different Node\.js version|invalid ELF header|better_sqlite3\.node/.test(s)) {
    return `its SQLite module does not load in this Node (${firstLine(s)}). Set redress.nodePath to the Node the extension was built for, or let it rebuild the module (Redress: Restart Daemon).`;
  }
  return s ? firstLine(s, 600) : 'it printed nothing.';
}

function firstLine(s: string, max = 300): string {
  const l = s.split('\n').find((x) => x.trim()) ?? s;
  return l.length > max ? `${l.slice(0, max)}…` : l;
}

/** Asks the daemon to stop, then makes sure the process is gone (SIGTERM, then SIGKILL). */
export async function stopDaemon(client: DaemonClient | null, pid: number, graceMs = 3000): Promise<void> {
  if (client) {
    try {
      await client.request('shutdown', {}, { timeoutMs: 2000 });
    } catch {
      /* closing already, or stuck: the signals below handle it */
    }
    client.close();
  }
  if (await exited(pid, graceMs)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  if (await exited(pid, graceMs)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
  await exited(pid, graceMs);
}

/** Resolves true once `pid` is gone, false after `ms` (checkProcessDied). */
function exited(pid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  return new Promise((resolve) => {
    const tick = () => {
      if (!isAlive(pid)) return resolve(true);
      if (Date.now() > until) return resolve(false);
      setTimeout(tick, 25);
    };
    tick();
  });
}
