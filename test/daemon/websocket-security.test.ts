// DESIGN.md safety contract point 10, "nothing reachable that should not be", against a real daemon
// process over real sockets: loopback only, a per-session secret, known browser origins only, and the
// file that publishes the secret readable by its owner alone.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { readDaemonInfo } from '../../daemon/launch';
import { stateDir } from '../../daemon/paths';
import { SECRET_HEADER } from '../../shared/protocol';
import { makeWorkspace, startTestDaemon, waitForRun, type RunningDaemon, type Workspace } from '../helpers/harness';
import { openRaw, rawUpgradeThenFrame, refusedWith } from '../helpers/rawSocket';

const ALLOWED = ['vscode-webview://redress-test', 'http://localhost:5173'];

let ws: Workspace;
let d: RunningDaemon;
let secret: string;
/** A second daemon, on its own workspace, started with REDRESS_ALLOWED_ORIGINS. */
let ws2: Workspace;
let d2: RunningDaemon;
let secret2: string;

const table = (db: import('better-sqlite3').Database) => {
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
  db.prepare("INSERT INTO t VALUES (1, 'a'), (2, 'B')").run();
};
const correction = `import { defineCorrection } from 'redress';
export default defineCorrection<{ id: number; v: string }>({
  id: 'lower-v', description: 'lower-case v', target: { table: 't', key: 'id' }, expects: { v: 'text' },
  transform: (row) => ({ v: row.v.toLowerCase() }),
});`;

before(async () => {
  ws = makeWorkspace(table);
  ws.correction('t', correction);
  d = await startTestDaemon(ws, { env: { ...process.env, REDRESS_ALLOWED_ORIGINS: '' } });
  secret = readDaemonInfo(ws.dir)!.secret;
  ws2 = makeWorkspace(table);
  d2 = await startTestDaemon(ws2, { env: { ...process.env, REDRESS_ALLOWED_ORIGINS: ALLOWED.join(',') } });
  secret2 = readDaemonInfo(ws2.dir)!.secret;
});
after(async () => {
  await d?.stop();
  await d2?.stop();
  ws?.cleanup();
  ws2?.cleanup();
});

/** The daemon still serves: a fresh authenticated connection gets an answer. */
async function assertServing(daemon: RunningDaemon): Promise<void> {
  const c = await daemon.connect();
  try {
    assert.equal((await c.request('status', {})).pid, daemon.pid);
  } finally {
    c.close();
  }
}

test('without the secret the upgrade is refused with 401 and a frame sent along with it is never read', async () => {
  // The smuggled frame would start a dry-run, which leaves a run in the ledger if it is ever parsed.
  const smuggled = JSON.stringify({ id: 1, method: 'dryRun', params: { correction: 'corrections/t.correction.ts' } });
  const refused = await rawUpgradeThenFrame(d.port, {}, smuggled);
  assert.match(refused, /^HTTP\/1\.1 401 /);
  assert.doesNotMatch(refused, /"type"/, 'no WebSocket frame comes back');
  // Control: the same bytes with the secret are a well-formed upgrade, and the frame is read and run.
  const accepted = await rawUpgradeThenFrame(d.port, { [SECRET_HEADER]: secret }, smuggled);
  assert.match(accepted, /^HTTP\/1\.1 101 /);
  const runId = /"runId":"([^"]+)"/.exec(accepted)?.[1];
  assert.ok(runId, `the control request started a run: ${accepted}`);
  await waitForRun(d.client, runId);
  const { runs } = await d.client.request('runs', {});
  assert.deepEqual(
    runs.map((r) => r.id),
    [runId],
    'only the authenticated frame started a run',
  );
  assert.match(readFileSync(join(stateDir(ws.dir), 'daemon.log'), 'utf8'), /refused a connection .*missing or wrong x-redress-secret/);
});

test('a wrong secret is refused with 401, whatever its length or where it is put', async () => {
  const sameLength = secret.slice(0, -1) + (secret.endsWith('A') ? 'B' : 'A');
  assert.equal(await refusedWith(d.port, {}), 401);
  assert.equal(await refusedWith(d.port, { secret: sameLength }), 401);
  assert.equal(await refusedWith(d.port, { secret: secret.slice(0, 10) }), 401);
  assert.equal(await refusedWith(d.port, { secret: secret + 'x' }), 401);
  assert.equal(await refusedWith(d.port, { secret: '' }), 401);
  assert.equal(await refusedWith(d.port, { secret: secret.toUpperCase() === secret ? secret.toLowerCase() : secret.toUpperCase() }), 401);
  assert.equal(await refusedWith(d2.port, { secret }), 401, "one daemon's secret does not open another");
  const viaAuthorization = await rawUpgradeThenFrame(d.port, { authorization: `Bearer ${secret}` }, '{}');
  assert.match(viaAuthorization, /^HTTP\/1\.1 401 /);
  await assertServing(d);
});

test('a browser origin the daemon does not know is refused with 403, even with the right secret', async () => {
  assert.equal(await refusedWith(d.port, { secret, origin: 'https://evil.example' }), 403);
  assert.equal(await refusedWith(d.port, { secret, origin: 'null' }), 403, 'sandboxed frames and file:// pages send "null"');
  assert.equal(await refusedWith(d.port, { secret, origin: 'http://127.0.0.1' }), 403, 'a page on localhost is still a browser page');
  assert.equal(await refusedWith(d.port, { origin: 'https://evil.example' }), 403, 'the origin is checked first');
  assert.equal(await refusedWith(d2.port, { secret: secret2, origin: 'https://evil.example' }), 403);
  assert.equal(await refusedWith(d2.port, { secret: secret2, origin: `${ALLOWED[1]}.evil.example` }), 403, 'origins match exactly, not by prefix');
  await assertServing(d);
});

test('an origin listed in REDRESS_ALLOWED_ORIGINS is accepted, and still needs the secret', async () => {
  for (const origin of ALLOWED) {
    const c = await openRaw(d2.port, { secret: secret2, origin });
    const reply = await c.request('hello', { protocol: 1, client: 'webview' });
    assert.equal(reply.type, 'result', JSON.stringify(reply));
    c.ws.close();
    await c.closed;
  }
  assert.equal(await refusedWith(d2.port, { origin: ALLOWED[0] }), 401);
  assert.equal(await refusedWith(d.port, { secret, origin: ALLOWED[0] }), 403, 'the list is per daemon, not global');
});

test('the daemon listens on 127.0.0.1 and nowhere else', () => {
  // Sockets the daemon process owns, by inode, and the listening ones among all TCP sockets.
  const inodes = new Set(
    readdirSync(`/proc/${d.pid}/fd`)
      .map((fd) => {
        try {
          return /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${d.pid}/fd/${fd}`))?.[1];
        } catch {
          return undefined; // closed while we looked
        }
      })
      .filter((x): x is string => x !== undefined),
  );
  const listening: { family: string; address: string; port: number }[] = [];
  for (const family of ['tcp', 'tcp6']) {
    const lines = readFileSync(`/proc/${d.pid}/net/${family}`, 'utf8').trim().split('\n').slice(1);
    for (const line of lines) {
      const f = line.trim().split(/\s+/);
      const [address, port] = f[1]!.split(':');
      if (f[3] === '0A' && inodes.has(f[9]!)) listening.push({ family, address: address!, port: parseInt(port!, 16) });
    }
  }
  // 0100007F is 127.0.0.1 as /proc/net/tcp writes it (little-endian hex).
  assert.deepEqual(listening, [{ family: 'tcp', address: '0100007F', port: d.port }]);
});

test('daemon.json, which holds the secret, is readable by its owner only; the state folder too', () => {
  const file = join(stateDir(ws.dir), 'daemon.json');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(statSync(stateDir(ws.dir)).mode & 0o777, 0o700);
  const info = JSON.parse(readFileSync(file, 'utf8')) as { secret: string; port: number; pid: number };
  assert.equal(info.port, d.port);
  assert.equal(info.pid, d.pid);
  assert.ok(Buffer.from(info.secret, 'base64url').length >= 32, 'at least 256 bits of secret');
  assert.notEqual(info.secret, secret2, 'every daemon makes its own secret');
});

test('a plain HTTP request gets 426 and nothing else', async () => {
  const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: d.port, path: '/', headers: { [SECRET_HEADER]: secret } }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(status, 426);
  assert.doesNotMatch(body, new RegExp(secret));
  assert.equal(body, 'Redress daemon: WebSocket only.\n');
});
