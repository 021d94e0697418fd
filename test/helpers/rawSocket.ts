// A WebSocket to the daemon without the typed client, for tests that send what DaemonClient never
// would (garbage, binary, huge frames), stop reading, or stop answering pings. Every frame the daemon
// sends is checked against ServerFrame: a reply that breaks the protocol fails the test that waits on it.
import { createConnection } from 'node:net';
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { SECRET_HEADER, ServerFrame } from '../../shared/protocol';

/** A reply to a request: a result or an error (events are the other kind of frame). */
export type Reply = Exclude<ServerFrame, { type: 'event' }>;

export interface RawConnection {
  ws: WebSocket;
  /** Every frame received so far, in arrival order. */
  frames: ServerFrame[];
  /** Bytes of every text frame received so far. */
  bytes: number;
  send(frame: unknown): void;
  /** The first frame, received already or later, after index `from` that matches. Rejects if the connection closes first. */
  waitFor(match: (f: ServerFrame) => boolean, from?: number): Promise<ServerFrame>;
  /** Sends {id, method, params} and resolves with the reply (result or error) carrying that id. */
  request(method: string, params?: unknown): Promise<Reply>;
  /** Resolves when the connection closes, with the close code the client saw. */
  closed: Promise<{ code: number; reason: string }>;
}

export interface RawOptions {
  secret?: string;
  origin?: string;
  /** false: do not answer pings (a dead peer, as far as the heartbeat can tell). */
  autoPong?: boolean;
}

/** Opens a connection and resolves once the upgrade succeeded; rejects with the HTTP status otherwise. */
export function openRaw(port: number, o: RawOptions = {}): Promise<RawConnection> {
  const headers: Record<string, string> = {};
  if (o.secret !== undefined) headers[SECRET_HEADER] = o.secret;
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { headers, ...(o.origin ? { origin: o.origin } : {}), autoPong: o.autoPong ?? true });
  const frames: ServerFrame[] = [];
  const waiters = new Set<{ match: (f: ServerFrame) => boolean; from: number; resolve: (f: ServerFrame) => void; reject: (e: Error) => void }>();
  let closeInfo: { code: number; reason: string } | null = null;
  let violation: Error | null = null;
  let nextId = 1;
  const conn: RawConnection = {
    ws,
    frames,
    bytes: 0,
    send: (frame) => ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame)),
    waitFor(match, from = 0) {
      if (violation) return Promise.reject(violation);
      const found = frames.slice(from).find(match);
      if (found) return Promise.resolve(found);
      if (closeInfo) return Promise.reject(new Error(`connection closed (${closeInfo.code}) before the awaited frame arrived`));
      return new Promise((resolve, reject) => waiters.add({ match, from, resolve, reject }));
    },
    request(method, params) {
      const id = nextId++;
      const from = frames.length;
      conn.send({ id, method, ...(params === undefined ? {} : { params }) });
      return conn.waitFor((f) => f.type !== 'event' && f.id === id, from) as Promise<Reply>;
    },
    closed: new Promise((resolve) =>
      ws.once('close', (code, reason) => {
        closeInfo = { code, reason: reason.toString() };
        for (const w of waiters) w.reject(new Error(`connection closed (${code}) before the awaited frame arrived`));
        waiters.clear();
        resolve(closeInfo);
      }),
    ),
  };
  ws.on('message', (data, isBinary) => {
    const text = data.toString();
    conn.bytes += Buffer.byteLength(text);
    let f: ServerFrame;
    try {
      if (isBinary) throw new Error('a binary frame');
      f = ServerFrame.parse(JSON.parse(text));
    } catch (e) {
      // The daemon broke the protocol: every wait on this connection fails from now on, with the frame.
      violation = new Error(`the daemon sent a frame outside the protocol (${(e as Error).message}): ${text.slice(0, 300)}`);
      for (const w of waiters) w.reject(violation);
      waiters.clear();
      return;
    }
    const index = frames.push(f) - 1;
    for (const w of [...waiters]) {
      if (index >= w.from && w.match(f)) {
        waiters.delete(w);
        w.resolve(f);
      }
    }
  });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(conn));
    ws.once('unexpected-response', (_req, res) => {
      ws.terminate();
      reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode }));
    });
    ws.once('error', (e) => reject(e));
  });
}

/** The HTTP status of a refused upgrade (rejects if the upgrade succeeds). */
export async function refusedWith(port: number, o: RawOptions = {}): Promise<number> {
  try {
    const c = await openRaw(port, o);
    c.ws.terminate();
  } catch (e) {
    const status = (e as { status?: number }).status;
    if (status !== undefined) return status;
    throw e;
  }
  throw new Error('the daemon accepted a connection it should have refused');
}

/**
 * A hand-written upgrade request followed, in the same TCP write, by a masked text frame. Resolves with
 * everything the daemon sent back before it closed the socket.
 */
export function rawUpgradeThenFrame(port: number, headers: Record<string, string>, frameText: string): Promise<string> {
  const lines = [
    'GET / HTTP/1.1',
    `Host: 127.0.0.1:${port}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
    'Sec-WebSocket-Version: 13',
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  const payload = Buffer.from(frameText);
  if (payload.length > 125) throw new Error('rawUpgradeThenFrame writes short frames only');
  const mask = Buffer.from([1, 2, 3, 4]);
  const frame = Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!))]);
  return new Promise((resolve, reject) => {
    const s = createConnection({ host: '127.0.0.1', port });
    let got = '';
    s.on('data', (d) => {
      got += d.toString('latin1');
      // A successful upgrade keeps the socket open; the answer to our frame is all we wait for then.
      if (got.startsWith('HTTP/1.1 101') && got.includes('\r\n\r\n') && got.length > got.indexOf('\r\n\r\n') + 4) s.end();
    });
    s.on('close', () => resolve(got));
    s.on('error', reject);
    s.write(Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n'), frame]));
  });
}

/** Resident memory of a process in KiB, from /proc/<pid>/status. */
export function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for process ${pid}`);
  return Number(m[1]);
}
