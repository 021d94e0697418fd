// One daemon per state folder, also when several clients start one at the same moment, and also after
// a daemon was killed with -9 (its lock is freed by the kernel, never taken over by guesswork: two
// starters that both found a dead owner's lock file could otherwise both take it over).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { readDaemonInfo } from '../../daemon/launch';
import { makeWorkspace, waitForExit, type Workspace } from '../helpers/harness';

const run = promisify(execFile);
const CLI = join(process.cwd(), 'dist', 'cli.js');
let ws: Workspace;

before(() => {
  ws = makeWorkspace((db) => db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)'), 'redress-lock-');
});
after(async () => {
  const info = readDaemonInfo(ws.dir);
  if (info) await run(process.execPath, [CLI, '--workspace', ws.dir, 'daemon', 'stop']).catch(() => {});
  ws?.cleanup();
});

/** `redress status --json` from several processes at once, each starting the daemon if it finds none. */
async function startTogether(n: number): Promise<number[]> {
  const outs = await Promise.all(Array.from({ length: n }, () => run(process.execPath, [CLI, '--workspace', ws.dir, '--json', 'status'])));
  return outs.map((o) => (JSON.parse(o.stdout) as { pid: number }).pid);
}

/** Daemon processes serving this workspace, from /proc. */
function daemonsServing(dir: string): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
        return argv.some((a) => a.endsWith('daemon.js')) && argv.includes(dir);
      } catch {
        return false;
      }
    })
    .map(Number);
}

test('four CLIs starting the daemon at once all end up on one daemon', { timeout: 60_000 }, async () => {
  const pids = await startTogether(4);
  assert.equal(new Set(pids).size, 1, `every CLI talked to the same daemon: ${pids.join(', ')}`);
  assert.deepEqual(daemonsServing(ws.dir), [pids[0]], 'exactly one daemon process serves the folder');
});

test('after kill -9 of the daemon, four CLIs starting one at once again end up on one new daemon', { timeout: 60_000 }, async () => {
  const old = readDaemonInfo(ws.dir)!.pid;
  process.kill(old, 'SIGKILL');
  await waitForExit(old);
  const pids = await startTogether(4);
  assert.equal(new Set(pids).size, 1, `every CLI talked to the same daemon: ${pids.join(', ')}`);
  assert.notEqual(pids[0], old);
  assert.deepEqual(daemonsServing(ws.dir), [pids[0]], 'exactly one daemon process serves the folder');
});
