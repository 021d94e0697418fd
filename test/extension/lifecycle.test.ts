// The extension's daemon lifecycle without VS Code: a real daemon found or started (two "windows"
// share one, none is orphaned), and fixture daemons that crash, hang or answer garbage on purpose.
// Each gives a clear message; nothing is restarted in a loop.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { connectOrStart, explainStartFailure, findNode, isAlive, readDaemonInfo, stopDaemon, type LaunchOptions } from '../../extension/daemon';
import { DaemonSession, RestartPolicy, type DaemonState } from '../../extension/session';
import { RedressError } from '../../shared/errors';
import { makeWorkspace, waitForExit, type Workspace } from '../helpers/harness';

const DAEMON = join(__dirname, '..', '..', 'dist', 'daemon.js');
const FIXTURE = join(__dirname, 'fixtures', 'daemon.js');

const workspaces: Workspace[] = [];
function workspace(): Workspace {
  const ws = makeWorkspace((db) => db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)'), 'redress-ext-');
  workspaces.push(ws);
  return ws;
}
after(() => {
  for (const ws of workspaces) {
    const info = readDaemonInfo(ws.dir);
    if (info && isAlive(info.pid)) process.kill(info.pid, 'SIGKILL');
    ws.cleanup();
  }
});

function launch(ws: Workspace, o: Partial<LaunchOptions> = {}): LaunchOptions {
  return { workspace: ws.dir, daemonEntry: DAEMON, node: process.execPath, ownerPid: process.pid, startTimeoutMs: 20_000, idleMs: 60_000, log: () => {}, ...o };
}

const starts = (ws: Workspace) => (existsSync(join(ws.dir, '.redress', 'starts')) ? readFileSync(join(ws.dir, '.redress', 'starts'), 'utf8').trim().split('\n').length : 0);

describe('a real daemon', () => {
  test('the first window starts it, a second window connects to the same one, and a stop leaves no process', async () => {
    const ws = workspace();
    const a = await connectOrStart(launch(ws));
    const b = await connectOrStart(launch(ws));
    assert.equal(a.started, true);
    assert.equal(b.started, false);
    assert.equal(a.info.pid, b.info.pid);
    assert.equal((await b.client.request('status', {})).clients, 2);
    b.client.close();
    await stopDaemon(a.client, a.info.pid);
    assert.equal(isAlive(a.info.pid), false);
  });

  test('two windows starting at the same moment end up on one daemon', async () => {
    const ws = workspace();
    const [a, b] = await Promise.all([connectOrStart(launch(ws)), connectOrStart(launch(ws))]);
    assert.equal(a.info.pid, b.info.pid);
    assert.equal([a.started, b.started].filter(Boolean).length, 1);
    b.client.close();
    await stopDaemon(a.client, a.info.pid);
  });

  test('no orphan: once the owner (the extension host) is gone and no client is left, the daemon exits', async () => {
    const ws = workspace();
    const owner = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    const c = await connectOrStart(launch(ws, { ownerPid: owner.pid! }));
    owner.kill('SIGKILL');
    await waitForExit(owner.pid!);
    assert.equal(isAlive(c.info.pid), true, 'a connected client keeps it alive');
    c.client.close();
    await waitForExit(c.info.pid, 15_000);
  });

  test('a request larger than the daemon accepts is refused before sending; the connection stays usable', async () => {
    const ws = workspace();
    const c = await connectOrStart(launch(ws));
    const big = { correction: 'x.correction.ts', params: { blob: 'x'.repeat(2 * 1024 * 1024) } };
    await assert.rejects(c.client.request('compile', big), (e: RedressError) => e.code === 'BAD_FRAME' && /was not sent/.test(e.message));
    assert.equal((await c.client.request('status', {})).pid, c.info.pid);
    await stopDaemon(c.client, c.info.pid);
  });
});

describe('daemons that misbehave on purpose', () => {
  test('one that never says it is ready: a clear timeout, and the process is stopped', async () => {
    const ws = workspace();
    const t = connectOrStart(launch(ws, { daemonEntry: FIXTURE, startTimeoutMs: 1500, env: { FIXTURE_MODE: 'never-ready' } }));
    await assert.rejects(t, (e: RedressError) => e.code === 'DAEMON_UNAVAILABLE' && /did not say it was ready within 2 s/.test(e.message));
  });

  test('one that answers garbage: connecting fails with a message naming the protocol', async () => {
    const ws = workspace();
    await assert.rejects(connectOrStart(launch(ws, { daemonEntry: FIXTURE, env: { FIXTURE_MODE: 'garbage' } })), (e: RedressError) => e.code === 'BAD_FRAME' && /does not match the protocol/.test(e.message));
    process.kill(readDaemonInfo(ws.dir)!.pid, 'SIGKILL');
  });

  test('one that accepts and never answers: hello times out with a message, no hang', async () => {
    const ws = workspace();
    await assert.rejects(connectOrStart(launch(ws, { daemonEntry: FIXTURE, connectTimeoutMs: 500, env: { FIXTURE_MODE: 'silent' } })), (e: RedressError) => e.code === 'DAEMON_UNAVAILABLE' && /did not answer hello/.test(e.message));
    // A second attempt does not start another daemon beside it: it says the running one is stuck.
    await assert.rejects(connectOrStart(launch(ws, { daemonEntry: FIXTURE, connectTimeoutMs: 500, env: { FIXTURE_MODE: 'silent' } })), /accepts connections but does not answer/);
    assert.equal(starts(ws), 1);
    process.kill(readDaemonInfo(ws.dir)!.pid, 'SIGKILL');
  });

  test('one whose SQLite module was built for another Node: the message says so and what to do', async () => {
    const ws = workspace();
    await assert.rejects(connectOrStart(launch(ws, { daemonEntry: FIXTURE, env: { FIXTURE_MODE: 'wrong-abi' } })), (e: RedressError) => /SQLite module does not load in this Node.*redress\.nodePath/s.test(e.message));
  });

  test('one that dies after every connection: the session reconnects with backoff, then gives up and stays down', async () => {
    const ws = workspace();
    const states: DaemonState[] = [];
    let connects = 0;
    const session = new DaemonSession({
      connect: () => {
        connects++;
        return connectOrStart(launch(ws, { daemonEntry: FIXTURE, env: { FIXTURE_MODE: 'crash-after-hello' } }));
      },
      stopDaemon: async () => {},
      log: () => {},
      policy: new RestartPolicy(3, 60_000, 10, 40),
    });
    const gaveUp = new Promise<DaemonState>((resolve) => session.onState((s) => (states.push(s), s.kind === 'down' && s.gaveUp && resolve(s))));
    await session.start().catch(() => undefined);
    const down = await gaveUp;
    assert.match((down as { message: string }).message, /went away|could not be restarted/);
    const startsWhenGaveUp = starts(ws);
    assert.ok(startsWhenGaveUp <= 3, `${startsWhenGaveUp} daemon starts for 3 allowed crashes`);
    // Down for good: a command gets a clear error and nothing is started again.
    await assert.rejects(session.ensure(), /stopped restarting it/);
    assert.equal(starts(ws), startsWhenGaveUp);
    assert.equal(connects, startsWhenGaveUp);
    await session.dispose();
  });
});

describe('finding Node', () => {
  test('a redress.nodePath that is not Node gives a message naming the setting', async () => {
    await assert.rejects(findNode('/bin/false'), /redress\.nodePath/);
    await assert.rejects(findNode('/no/such/node'), /Cannot run Node at \/no\/such\/node.*redress\.nodePath/);
  });

  test('the setting wins; otherwise the first node on PATH', async () => {
    const n = await findNode(process.execPath);
    assert.equal(n.path, process.execPath);
    assert.equal(n.abi, process.versions.modules);
    const onPath = await findNode('', { PATH: join(process.execPath, '..') });
    assert.equal(onPath.version, process.version);
  });

  test('explainStartFailure turns an ABI mismatch into advice and keeps other messages', () => {
    assert.match(explainStartFailure('Error: was compiled against a different Node.js version using NODE_MODULE_VERSION 115'), /redress\.nodePath/);
    assert.equal(explainStartFailure('redress daemon: No redress.config.json in /x.'), 'redress daemon: No redress.config.json in /x.');
    assert.equal(explainStartFailure(''), 'it printed nothing.');
  });
});

describe('RestartPolicy', () => {
  test('backs off exponentially up to the cap, and stops after max crashes inside the window', () => {
    const p = new RestartPolicy(4, 60_000, 100, 250);
    assert.deepEqual(p.onCrash(0), { retry: true, delayMs: 100 });
    assert.deepEqual(p.onCrash(1), { retry: true, delayMs: 200 });
    assert.deepEqual(p.onCrash(2), { retry: true, delayMs: 250 });
    assert.deepEqual(p.onCrash(3), { retry: false, crashes: 4 });
  });

  test('crashes older than the window are forgotten', () => {
    const p = new RestartPolicy(2, 1000, 100, 1000);
    assert.equal(p.onCrash(0).retry, true);
    assert.equal(p.onCrash(5000).retry, true);
    assert.equal(p.onCrash(5001).retry, false);
  });
});
