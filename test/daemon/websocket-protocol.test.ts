// The WebSocket protocol against a real daemon process over a real socket, driven by clients that
// misbehave on purpose: garbage frames, binary frames, frames over the size limit, the wrong protocol
// version, a client that stops reading while a run streams thousands of events, and one that stops
// answering pings. Every frame the daemon sends back is checked against ServerFrame (rawSocket.ts).
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { readDaemonInfo } from '../../daemon/launch';
import { stateDir } from '../../daemon/paths';
import { MAX_CLIENT_FRAME_BYTES, PROTOCOL_VERSION, type RunEvent, type ServerFrame } from '../../shared/protocol';
import { makeWorkspace, startTestDaemon, waitForRun, type RunningDaemon, type Workspace } from '../helpers/harness';
import { openRaw, rssKiB, type RawConnection } from '../helpers/rawSocket';

let ws: Workspace;
let d: RunningDaemon;
let secret: string;
let lowerFile: string;

before(async () => {
  ws = makeWorkspace((db) => {
    db.exec('CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL)');
    const ins = db.prepare('INSERT INTO people VALUES (?, ?)');
    for (let i = 1; i <= 2000; i++) ins.run(i, i % 2 ? `PERSON ${i}` : `person ${i}`);
  });
  lowerFile = ws.correction(
    'lower-name',
    `import { defineCorrection } from 'redress';
export default defineCorrection<{ id: number; name: string }>({
  id: 'lower-name', description: 'lower-case names', target: { table: 'people', key: 'id' }, expects: { name: 'text' },
  transform: (row) => ({ name: row.name.toLowerCase() }),
});`,
  );
  d = await startTestDaemon(ws);
  secret = readDaemonInfo(ws.dir)!.secret;
});
after(async () => {
  await d?.stop();
  ws?.cleanup();
});

const open = (o: { autoPong?: boolean } = {}) => openRaw(d.port, { secret, ...o });

type ErrorFrame = Extract<ServerFrame, { type: 'error' }>;
/** An error reply with this code; `id` null for frames the daemon could not read an id from. */
function assertError(f: ServerFrame, code: string, id?: number | null): asserts f is ErrorFrame {
  assert.equal(f.type, 'error', `expected a ${code} error, got ${JSON.stringify(f)}`);
  assert.equal(f.error.code, code, f.error.message);
  if (id !== undefined) assert.equal(f.id, id);
}

/** The next reply that is not an event, from index `from` on (for frames sent without an id). */
const nextReply = (c: RawConnection, from: number) => c.waitFor((f) => f.type !== 'event', from);

/** A request on the same connection is still answered: the connection survived. */
async function assertAnswers(c: RawConnection): Promise<void> {
  const r = await c.request('status', {});
  assert.equal(r.type, 'result', JSON.stringify(r));
}

test('a frame that is not JSON gets BAD_FRAME (id null), and the same connection keeps working', async () => {
  const c = await open();
  for (const garbage of ['{"id": 1, "method": "status"', 'hello', '', '\u0000\u0001', '{"id":1}}']) {
    const from = c.frames.length;
    c.send(garbage);
    const f = await nextReply(c, from);
    assertError(f, 'BAD_FRAME', null);
    assert.match(f.error.message, /not valid JSON/);
    await assertAnswers(c);
  }
  c.ws.close();
});

test('JSON that is not a request gets BAD_FRAME naming what is wrong', async () => {
  const c = await open();
  const cases: [unknown, RegExp][] = [
    [[], /\(root\)/],
    [null, /\(root\)/],
    ['status', /\(root\)/],
    [{ method: 'status' }, /id/],
    [{ id: -1, method: 'status' }, /id/],
    [{ id: 1.5, method: 'status' }, /id/],
    [{ id: '7', method: 'status' }, /id/],
    [{ id: 2 }, /method/],
    [{ id: 3, method: 42 }, /method/],
  ];
  for (const [frame, names] of cases) {
    const from = c.frames.length;
    c.send(JSON.stringify(frame));
    const f = await nextReply(c, from);
    assertError(f, 'BAD_FRAME', null);
    assert.match(f.error.message, names, `${JSON.stringify(frame)} -> ${f.error.message}`);
  }
  await assertAnswers(c);
  c.ws.close();
});

test('an unknown method gets UNKNOWN_METHOD with the request id, names on Object.prototype included', async () => {
  const c = await open();
  for (const method of ['frobnicate', 'Status', '', 'toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf']) {
    const f = await c.request(method, {});
    assertError(f, 'UNKNOWN_METHOD'); // request() matched the reply by the id it sent
    assert.match(f.error.message, /Methods: hello, status/, 'the reply lists the methods there are');
  }
  await assertAnswers(c);
  c.ws.close();
});

test('invalid params get BAD_FRAME with the zod path of each problem', async () => {
  const c = await open();
  const cases: [string, unknown, RegExp][] = [
    ['runs', { limit: 0 }, /Invalid params for runs: limit: /],
    ['runs', { limit: 'ten' }, /limit: /],
    ['diffs', { runId: 5 }, /Invalid params for diffs: runId: /],
    ['diffs', { runId: 'r', offset: -1, limit: 99_999 }, /offset: .*; limit: /],
    ['preview', { correction: 'x', params: { when: 1 } }, /Invalid params for preview: params\.when: /],
    ['dryRun', { correction: '' }, /correction: /],
    ['hello', { protocol: '1', client: 'x' }, /protocol: /],
    ['status', 5, /Invalid params for status: \(root\): /],
    ['subscribe', { runId: 'r', fromSeq: -3 }, /fromSeq: /],
  ];
  for (const [method, params, message] of cases) {
    const f = await c.request(method, params);
    assertError(f, 'BAD_FRAME');
    assert.match(f.error.message, message);
  }
  await assertAnswers(c);
  c.ws.close();
});

test('a binary frame gets BAD_FRAME, even when it holds a valid request', async () => {
  const c = await open();
  const from = c.frames.length;
  c.ws.send(Buffer.from(JSON.stringify({ id: 1, method: 'status', params: {} })), { binary: true });
  const f = await nextReply(c, from);
  assertError(f, 'BAD_FRAME', null);
  assert.match(f.error.message, /Binary frames/);
  await assertAnswers(c);
  c.ws.close();
});

test('a frame over MAX_CLIENT_FRAME_BYTES closes that connection with 1009; the daemon and other connections carry on', async () => {
  const bystander = await open();
  const c = await open();
  c.send(JSON.stringify({ id: 1, method: 'status', params: { pad: 'x'.repeat(2 * 1024 * 1024) } }));
  assert.equal((await c.closed).code, 1009);
  await assertAnswers(bystander);
  // The same in fragments: the limit is on the message, not on each frame.
  const f = await open();
  const chunk = Buffer.alloc(512 * 1024, 0x20);
  for (let i = 0; i < 4; i++) f.ws.send(chunk, { fin: false, binary: false });
  f.ws.send(chunk, { fin: true, binary: false });
  assert.equal((await f.closed).code, 1009);
  // A frame just under the limit is read and answered.
  const under = await open();
  const pad = 'x'.repeat(MAX_CLIENT_FRAME_BYTES - 200);
  const reply = await under.request('frobnicate', { pad });
  assertError(reply, 'UNKNOWN_METHOD');
  // And a new connection works.
  const fresh = await open();
  await assertAnswers(fresh);
  for (const x of [bystander, under, fresh]) x.ws.close();
  assert.equal((await d.client.request('status', {})).pid, d.pid);
});

test('a text frame that is not UTF-8 closes that connection with 1007; the daemon carries on', async () => {
  const c = await open();
  c.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
  assert.equal((await c.closed).code, 1007);
  const fresh = await open();
  await assertAnswers(fresh);
  fresh.ws.close();
});

test('hello with another protocol version gets PROTOCOL_VERSION naming both versions', async () => {
  const c = await open();
  const f = await c.request('hello', { protocol: PROTOCOL_VERSION + 1, client: 'from-the-future' });
  assertError(f, 'PROTOCOL_VERSION');
  assert.match(f.error.message, new RegExp(`protocol ${PROTOCOL_VERSION}, the client ${PROTOCOL_VERSION + 1}`));
  const ok = await c.request('hello', { protocol: PROTOCOL_VERSION, client: 'fixed' });
  assert.equal(ok.type, 'result');
  c.ws.close();
});

test('requests sent back to back are each answered exactly once, with their own id', async () => {
  const c = await open();
  const replies = await Promise.all(Array.from({ length: 25 }, (_, i) => c.request(i % 5 === 0 ? 'nope' : 'status', {})));
  assert.deepEqual(
    replies.map((r) => r.type),
    Array.from({ length: 25 }, (_, i) => (i % 5 === 0 ? 'error' : 'result')),
  );
  const ids = c.frames.map((f) => (f.type === 'event' ? -1 : f.id)).sort((a, b) => (a ?? 0) - (b ?? 0));
  assert.deepEqual(
    ids,
    Array.from({ length: 25 }, (_, i) => i + 1),
  );
  c.ws.close();
});

test('subscribing to a run that does not exist gets RUN_NOT_FOUND', async () => {
  const c = await open();
  const f = await c.request('subscribe', { runId: 'dry_nope', fromSeq: 0 });
  assertError(f, 'RUN_NOT_FOUND');
  c.ws.close();
});

/** The run's events as the ledger has them, read straight from the file: the ground truth for streams. */
function ledgerEvents(workspace: string, runId: string): { seq: number; kind: string }[] {
  const db = new Database(join(stateDir(workspace), 'ledger.sqlite'), { readonly: true });
  try {
    return db.prepare('SELECT seq, kind FROM events WHERE run_id = ? ORDER BY seq').all(runId) as { seq: number; kind: string }[];
  } finally {
    db.close();
  }
}

const eventsOf = (c: RawConnection, runId: string): RunEvent[] => c.frames.flatMap((f) => (f.type === 'event' && f.event.runId === runId ? [f.event] : []));
const finalEvent = (runId: string) => (f: ServerFrame) => f.type === 'event' && f.event.runId === runId && f.event.kind === 'completed';

test('two clients subscribed to one run see the same events in the same order, one of them from a late start', async () => {
  const a = await open();
  const b = await open();
  const started = await a.request('dryRun', { correction: lowerFile, batchSize: 10 });
  assert.equal(started.type, 'result', JSON.stringify(started));
  const { runId } = (started as { result: { runId: string } }).result;
  assert.equal((await a.request('subscribe', { runId, fromSeq: 0 })).type, 'result');
  // b joins once the run is under way, and still gets everything from the start.
  await a.waitFor((f) => f.type === 'event' && f.event.kind === 'progress');
  assert.equal((await b.request('subscribe', { runId, fromSeq: 0 })).type, 'result');
  await Promise.all([a.waitFor(finalEvent(runId)), b.waitFor(finalEvent(runId))]);
  const seqs = (c: RawConnection) => eventsOf(c, runId).map((e) => `${e.seq}:${e.kind}`);
  assert.deepEqual(seqs(a), seqs(b));
  assert.deepEqual(
    seqs(a),
    ledgerEvents(ws.dir, runId).map((e) => `${e.seq}:${e.kind}`),
  );
  assert.equal(eventsOf(a, runId).filter((e) => e.kind === 'progress').length, 200);
  assert.deepEqual(eventsOf(a, runId), eventsOf(b, runId), 'the same payloads too');
  // fromSeq resumes after a given event: a third subscription gets exactly the tail.
  const mid = eventsOf(a, runId)[100]!.seq;
  const c = await open();
  assert.equal((await c.request('subscribe', { runId, fromSeq: mid })).type, 'result');
  await c.waitFor(finalEvent(runId));
  assert.deepEqual(eventsOf(c, runId), eventsOf(a, runId).slice(101));
  for (const x of [a, b, c]) x.ws.close();
});

test('a client that stops reading while a run streams thousands of events does not grow daemon memory, and later gets every event in order', { timeout: 180_000 }, async () => {
  // Each progress event carries the run's changesPerColumn, so twenty columns with 2000-character names
  // make every event about 40 KB, and 4000 batches of one row about 160 MB of events: forty times what
  // the kernel's socket buffers hold (tcp_wmem max is 4 MiB by default), so nearly all of the stream can
  // only wait in the ledger or in daemon memory. (200k rows in batches of 50 with short column names
  // make a 1 MB stream, which the socket buffers swallow whole: that would not test the daemon at all.)
  const COLUMNS = Array.from({ length: 20 }, (_, i) => `c${i}_${'x'.repeat(2000)}`);
  const ROWS = 4000;
  const BATCH = 1;
  const bw = makeWorkspace((db) => {
    db.exec(`CREATE TABLE wide (id INTEGER PRIMARY KEY, ${COLUMNS.map((c) => `"${c}" INTEGER NOT NULL`).join(', ')})`);
    const ins = db.prepare(`INSERT INTO wide VALUES (?${', 0'.repeat(COLUMNS.length)})`);
    db.transaction(() => {
      for (let i = 1; i <= ROWS; i++) ins.run(i);
    })();
  });
  const file = bw.correction(
    'touch-one-column',
    `import { defineCorrection } from 'redress';
const columns = ${JSON.stringify(COLUMNS)};
export default defineCorrection({
  id: 'touch-one-column', description: 'row k sets column k (k <= 20); every other row is unchanged',
  target: { table: 'wide', key: 'id' }, expects: {},
  transform: (row) => (Number(row.id) <= columns.length ? { [columns[Number(row.id) - 1]]: 1 } : {}),
});`,
  );
  // A heartbeat far longer than the run: this test is about back-pressure, not about dead peers.
  const bd = await startTestDaemon(bw, { env: { ...process.env, REDRESS_HEARTBEAT_MS: String(60 * 60_000) } });
  try {
    const info = readDaemonInfo(bw.dir)!;
    // Warm up the code paths a run uses (compile, sandbox worker, target reads) before the baseline.
    await bd.client.request('preview', { correction: file, params: {}, sampleSize: 100 });
    const baseline = rssKiB(bd.pid);

    const slow = await openRaw(bd.port, { secret: info.secret });
    const started = await slow.request('dryRun', { correction: file, batchSize: BATCH });
    assert.equal(started.type, 'result', JSON.stringify(started));
    const { runId } = (started as { result: { runId: string } }).result;
    assert.equal((await slow.request('subscribe', { runId, fromSeq: 0 })).type, 'result');
    slow.ws.pause(); // stops reading the TCP socket (ws's own pause, so ws does not resume it on drain)

    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, rssKiB(bd.pid))), 20);
    let run;
    try {
      // Another connection, reading normally, follows the run to its end.
      run = await waitForRun(bd.client, runId);
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, rssKiB(bd.pid));
    assert.equal(run.status, 'completed', run.message ?? '');
    assert.equal(run.batchesDone, ROWS / BATCH);
    const framesWhilePaused = slow.frames.length;

    slow.ws.resume();
    await slow.waitFor(finalEvent(runId));
    const got = eventsOf(slow, runId);
    const truth = ledgerEvents(bw.dir, runId);
    assert.ok(framesWhilePaused < truth.length / 10, `the client really stopped reading (${framesWhilePaused} frames of ${truth.length} arrived while paused)`);
    assert.deepEqual(
      got.map((e) => `${e.seq}:${e.kind}`),
      truth.map((e) => `${e.seq}:${e.kind}`),
      'every event of the run, in ledger order, none twice',
    );
    const batches = got.filter((e) => e.kind === 'progress').map((e) => e.data.batch);
    assert.deepEqual(
      batches,
      Array.from({ length: ROWS / BATCH }, (_, i) => i + 1),
      'progress without gaps',
    );
    const streamedMiB = slow.bytes / 2 ** 20;
    const grewMiB = (peak - baseline) / 1024;
    assert.ok(streamedMiB > 100, `the stream was big enough to matter (${streamedMiB.toFixed(1)} MiB)`);
    // Generous: the run itself needs memory (V8 heap growth, the sandbox worker; about 50 MiB here, with or
    // without subscribers), while a daemon that queued the stream would grow by all of it (about 210 MiB
    // here, measured by removing the bufferedAmount check in server.ts).
    assert.ok(grewMiB < streamedMiB / 2, `daemon RSS grew ${grewMiB.toFixed(1)} MiB while a paused client was owed ${streamedMiB.toFixed(1)} MiB`);
    slow.ws.close();
  } finally {
    await bd.stop();
    bw.cleanup();
  }
});

test('a client that pipelines requests and never reads the replies does not grow daemon memory, and later gets every reply in order', { timeout: 180_000 }, async () => {
  // 2000 changed rows with 300-character names make each `diffs` page of 2000 rows about 1.3 MB; 150
  // such requests sent without reading a reply are owed about 200 MB, fifty times the socket buffers.
  const ROWS = 2000;
  const REQUESTS = 150;
  const pw = makeWorkspace((db) => {
    db.exec('CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL)');
    const ins = db.prepare('INSERT INTO people VALUES (?, ?)');
    db.transaction(() => {
      for (let i = 1; i <= ROWS; i++) ins.run(i, `PERSON ${i} `.padEnd(300, 'X'));
    })();
  });
  const file = pw.correction(
    'lower-name',
    `import { defineCorrection } from 'redress';
export default defineCorrection<{ id: number; name: string }>({
  id: 'lower-name', description: 'lower-case names', target: { table: 'people', key: 'id' }, expects: { name: 'text' },
  transform: (row) => ({ name: row.name.toLowerCase() }),
});`,
  );
  const pd = await startTestDaemon(pw, { env: { ...process.env, REDRESS_HEARTBEAT_MS: String(60 * 60_000) } });
  try {
    const dry = await waitForRun(pd.client, (await pd.client.request('dryRun', { correction: file })).runId);
    assert.equal(dry.counts.changed, ROWS);
    await pd.client.request('diffs', { runId: dry.id, limit: 5000 }); // warm the code path before the baseline
    const baseline = rssKiB(pd.pid);

    const greedy = await openRaw(pd.port, { secret: readDaemonInfo(pw.dir)!.secret });
    greedy.ws.pause();
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, rssKiB(pd.pid))), 20);
    try {
      for (let i = 1; i <= REQUESTS; i++) greedy.send({ id: i, method: 'diffs', params: { runId: dry.id, limit: 5000 } });
      // Whatever the daemon does with them, it keeps answering everyone else, and its memory stays put.
      for (let k = 0; k < 20; k++) {
        assert.equal((await pd.client.request('status', {})).pid, pd.pid);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, rssKiB(pd.pid));
    const framesWhilePaused = greedy.frames.length;
    greedy.ws.resume();
    await greedy.waitFor((f) => f.type === 'result' && f.id === REQUESTS);
    const replies = greedy.frames.filter((f) => f.type !== 'event');
    assert.deepEqual(
      replies.map((f) => (f.type === 'result' ? f.id : `error ${JSON.stringify(f)}`)),
      Array.from({ length: REQUESTS }, (_, i) => i + 1),
      'every request answered once, in order',
    );
    for (const f of replies) assert.equal((f as { result: { rows: unknown[] } }).result.rows.length, ROWS);
    const owedMiB = greedy.bytes / 2 ** 20;
    const grewMiB = (peak - baseline) / 1024;
    assert.ok(framesWhilePaused < REQUESTS / 10, `the client really stopped reading (${framesWhilePaused} replies arrived while paused)`);
    assert.ok(owedMiB > 150, `the replies were big enough to matter (${owedMiB.toFixed(1)} MiB)`);
    assert.ok(grewMiB < owedMiB / 4, `daemon RSS grew ${grewMiB.toFixed(1)} MiB while a client that did not read was owed ${owedMiB.toFixed(1)} MiB`);
    greedy.ws.close();
  } finally {
    await pd.stop();
    pw.cleanup();
  }
});

test('a client that stops answering pings is terminated; one that answers stays connected', { timeout: 60_000 }, async () => {
  const hw = makeWorkspace((db) => db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)'));
  const hd = await startTestDaemon(hw, { env: { ...process.env, REDRESS_HEARTBEAT_MS: '100' } });
  try {
    const info = readDaemonInfo(hw.dir)!;
    const healthy = await openRaw(hd.port, { secret: info.secret });
    const deaf = await openRaw(hd.port, { secret: info.secret, autoPong: false });
    let deafPings = 0;
    deaf.ws.on('ping', () => deafPings++);
    const { code } = await deaf.closed;
    assert.equal(code, 1006, 'terminated: the socket is destroyed without a close handshake');
    assert.ok(deafPings >= 1, 'it was pinged before it was dropped');
    // The healthy client has answered pings all along: it sees a few more, and still gets answers.
    let pings = 0;
    await new Promise<void>((resolve) =>
      healthy.ws.on('ping', () => {
        if (++pings === 3) resolve();
      }),
    );
    assert.equal(healthy.ws.readyState, WebSocket.OPEN);
    const status = await healthy.request('status', {});
    assert.equal(status.type, 'result');
    assert.equal((status as { result: { clients: number } }).result.clients, 2, 'the harness client and the healthy one; the deaf one is gone');
    healthy.ws.close();
  } finally {
    await hd.stop();
    hw.cleanup();
  }
});
