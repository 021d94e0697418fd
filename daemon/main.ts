// The daemon process: one per workspace state folder. Bundled to dist/daemon.js.
//   node dist/daemon.js --workspace DIR [--owner-pid PID] [--idle-ms MS]
// Environment: REDRESS_ALLOWED_ORIGINS (comma-separated browser origins), REDRESS_IDLE_MS, REDRESS_HEARTBEAT_MS.
// Prints one line `REDRESS_READY {"port":…,"pid":…}` on stdout when it accepts connections, then
// nothing more on stdout (logs go to .redress/daemon.log).
import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import Database from 'better-sqlite3';
import { appendFileSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { coerceError } from '../shared/errors';
import { PROTOCOL_VERSION } from '../shared/protocol';
import { isAlive } from '../shared/daemonFiles';
import { readConfig } from './config';
import { Engine } from './engine/engine';
import { Ledger } from './ledger/ledger';
import { stateDir } from './paths';
import { sqliteOptions } from './sqliteBinding';
import { makeHandlers } from './server/handlers';
import { DaemonServer } from './server/server';
import { openTarget } from './targets/open';
import { VERSION } from './version';

// The old generation grows to twice what survives a full collection, not up to four times: the
// daemon's live heap is small (about 15 MB in a long dry-run) and the rest is batches already done.
// Measured on a 300,000-row dry-run: peak RSS 202 MB instead of 227, the same time.
setFlagsFromString('--heap-growing-percent=100');

export interface DaemonInfo {
  pid: number;
  port: number;
  secret: string;
  version: string;
  protocol: number;
  workspace: string;
  startedAt: string;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/**
 * One daemon per state folder: an exclusive SQLite lock on daemon.lock, held for the daemon's life.
 * The kernel drops it when the process dies (kill -9 included), so a dead daemon's lock is never taken
 * over by guesswork, and two daemons starting together cannot both win. daemon.pid names the holder.
 */
function takeLock(dir: string): () => void {
  const pidFile = join(dir, 'daemon.pid');
  const lock = new Database(join(dir, 'daemon.lock'), { ...sqliteOptions(), timeout: 0 });
  try {
    lock.exec('BEGIN EXCLUSIVE');
  } catch (e) {
    lock.close();
    if ((e as { code?: string }).code !== 'SQLITE_BUSY') throw e;
    let owner = '';
    try {
      owner = ` (pid ${Number(readFileSync(pidFile, 'utf8'))})`;
    } catch {
      /* it is still starting and has not written its pid yet */
    }
    process.stderr.write(`Another Redress daemon${owner} already serves ${dir}. Use it, or stop it with \`redress daemon stop\`.\n`);
    process.exit(3);
  }
  writeFileSync(pidFile, String(process.pid), { mode: 0o600 });
  return () => {
    rmSync(pidFile, { force: true });
    lock.close(); // ends the transaction: the lock is free
  };
}

// Transforms see time in UTC whatever the machine's zone: a correction that parses "2020-01-01 05:00:00"
// (a timestamp column) or calls getHours() gets the same answer on a laptop in Kathmandu and on the shared
// runner, so preview, dry-run and apply agree wherever they run. Set before anything reads the clock;
// it holds for the sandbox's worker threads too.
process.env.TZ = 'UTC';

async function main(): Promise<void> {
  const workspace = resolve(arg('--workspace') ?? process.cwd());
  const ownerPid = arg('--owner-pid') ? Number(arg('--owner-pid')) : null;
  const idleMs = Number(arg('--idle-ms') ?? process.env.REDRESS_IDLE_MS ?? 10 * 60_000);
  // Tests shorten the ping interval to see a dead peer terminated; unset or invalid means the default.
  const heartbeatMs = Number(process.env.REDRESS_HEARTBEAT_MS);
  // Read the config first: a folder that is not a workspace gets a message, not a .redress/ folder.
  const config = readConfig(workspace);
  const dir = stateDir(workspace);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const logFile = join(dir, 'daemon.log');
  const log = (msg: string) => appendFileSync(logFile, `${new Date().toISOString()} [${process.pid}] ${msg}\n`);
  const releaseLock = takeLock(dir);

  const ledger = new Ledger(join(dir, 'ledger.sqlite'));
  const target = await openTarget(config.target, workspace);
  const engine = new Engine(ledger, target, workspace, log);
  const interrupted = engine.markInterrupted();
  if (interrupted.length) log(`runs interrupted by the previous daemon, resumable: ${interrupted.join(', ')}`);

  const secret = randomBytes(32).toString('base64url');
  const startedAt = Date.now();
  let stopping = false;
  const infoFile = join(dir, 'daemon.json');

  const shutdown = async (why: string) => {
    if (stopping) return;
    stopping = true;
    log(`stopping: ${why}`);
    const force = setTimeout(() => {
      log('graceful stop took too long; exiting now');
      process.exit(1);
    }, 5000);
    force.unref();
    try {
      await engine.stopAll();
      await server.close();
      await target.close();
      ledger.close();
    } catch (e) {
      log(`error while stopping: ${coerceError(e).message}`);
    }
    rmSync(infoFile, { force: true });
    releaseLock();
    process.exit(0);
  };

  const server: DaemonServer = new DaemonServer({
    secret,
    allowedOrigins: (process.env.REDRESS_ALLOWED_ORIGINS ?? '').split(',').filter(Boolean),
    heartbeatMs: heartbeatMs > 0 ? heartbeatMs : undefined,
    handlers: makeHandlers({ engine, ledger, workspace, startedAt, clients: (): number => server.clientCount(), shutdown: () => void shutdown('asked by a client') }),
    eventsFor: (runId, after, limit) => ledger.eventsForRun(runId, after, limit),
    onLedgerEvent: (fn) => ledger.onEvent(fn),
    log,
  });
  engine.onUnrecordedEnd = (runId, status, message) => server.broadcastUnrecorded(runId, status as 'failed', { status, message });
  const port = await server.listen();

  const info: DaemonInfo = { pid: process.pid, port, secret, version: VERSION, protocol: PROTOCOL_VERSION, workspace, startedAt: new Date(startedAt).toISOString() };
  // Only the user can read the secret: write with mode 0600, then rename into place.
  const tmp = `${infoFile}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(info), { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, infoFile);
  log(`listening on 127.0.0.1:${port} for ${workspace} (target ${target.description})`);

  // No orphans: exit when idle with no client and no run, or when the owner is gone and no client is left.
  let idleSince = Date.now();
  server.onClientsChanged = (n) => {
    if (n === 0) idleSince = Date.now();
  };
  const watchdog = setInterval(() => {
    const busy = server.clientCount() > 0 || engine.activeRunIds().length > 0;
    if (busy) idleSince = Date.now();
    if (ownerPid && !isAlive(ownerPid) && server.clientCount() === 0) void shutdown(`owner process ${ownerPid} is gone`);
    else if (!busy && Date.now() - idleSince > idleMs) void shutdown(`idle for ${Math.round(idleMs / 1000)}s`);
  }, Math.min(2000, Math.max(100, idleMs / 4)));
  watchdog.unref();

  let signals = 0;
  const onSignal = (sig: string) => {
    if (++signals > 1) process.exit(130);
    void shutdown(`signal ${sig}`);
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('uncaughtException', (e) => log(`uncaught: ${e.stack ?? e.message}`));
  process.on('unhandledRejection', (e) => log(`unhandled rejection: ${coerceError(e).message}`));

  process.stdout.write(`REDRESS_READY ${JSON.stringify({ port, pid: process.pid })}\n`);
}

main().catch((e) => {
  const err = coerceError(e);
  // The starter reads this line to pass bad input (config, target) on as such, with its code.
  process.stdout.write(`REDRESS_FAILED ${JSON.stringify(err.toJSON())}\n`);
  process.stderr.write(`redress daemon: ${err.message}\n`);
  process.exit(2);
});
