// Where the daemon's files are, both from source (tsx, tests) and from the esbuild bundle in dist/.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The folder holding daemon.js, sandbox-worker.js and migrations/ once built. */
function builtDir(): string {
  // Bundled: this code lives in dist/daemon.js (or dist/cli.js), beside the worker.
  if (existsSync(join(__dirname, 'sandbox-worker.js'))) return __dirname;
  // From source: daemon/<this file> -> <repo>/dist
  return resolve(__dirname, '..', 'dist');
}

export function migrationsDir(): string {
  const bundled = join(__dirname, 'migrations');
  if (existsSync(join(bundled, '0001_initial.sql'))) return bundled;
  return resolve(__dirname, 'ledger', 'migrations');
}

export function sandboxWorkerPath(): string {
  const p = join(builtDir(), 'sandbox-worker.js');
  if (!existsSync(p)) throw new Error(`The sandbox worker is not built (${p} is missing). Run \`npm run build\`.`);
  return p;
}

export function daemonEntryPath(): string {
  const p = join(builtDir(), 'daemon.js');
  if (!existsSync(p)) throw new Error(`The daemon is not built (${p} is missing). Run \`npm run build\`.`);
  return p;
}

/** Per-workspace state: ledger, daemon connection file, logs. */
export function stateDir(workspace: string): string {
  return join(workspace, '.redress');
}
