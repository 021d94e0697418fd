// The daemon's WebSocket server: loopback only, per-session secret, known origins only, bounded
// frames, every frame validated, heartbeats, and run events streamed from the ledger at each
// client's own pace (a slow client lags behind in the ledger, not in daemon memory), and a client's
// requests read only while its replies drain.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import { coerceError, RedressError } from '../../shared/errors';
import { MAX_CLIENT_FRAME_BYTES, Request, SECRET_HEADER, methods, type Method, type RunEvent, type ServerFrame } from '../../shared/protocol';
import type { LedgerEvent } from '../ledger/ledger';
import type { Handlers } from './handlers';

/** Stop reading events for a client while this much is still queued for it. */
const HIGH_WATER_BYTES = 256 * 1024;
/**
 * A client's requests start only while less than this much of its replies is still queued for it, at
 * most this many at a time; the rest wait as the frames they came in (small), and past MAX_QUEUED_FRAMES
 * the daemon stops reading its socket. A client that sends requests and never reads the replies then
 * waits in its own TCP buffers: no reply is computed before there is room to send it.
 */
const REPLY_HIGH_WATER_BYTES = 4 * 1024 * 1024;
const MAX_REQUESTS_IN_FLIGHT = 8;
const MAX_QUEUED_FRAMES = 64;
/** How often peers are pinged; one that has not answered the previous ping is terminated. */
export const DEFAULT_HEARTBEAT_MS = 15_000;

export interface ServerOptions {
  secret: string;
  /** Origins allowed to connect (browsers send one; Node clients send none). */
  allowedOrigins: string[];
  handlers: Handlers;
  /** Ping interval; a peer that misses one ping is terminated at the next. Default DEFAULT_HEARTBEAT_MS. */
  heartbeatMs?: number;
  eventsFor: (runId: string, afterSeq: number, limit: number) => LedgerEvent[];
  onLedgerEvent: (fn: (e: LedgerEvent) => void) => () => void;
  log: (msg: string) => void;
}

interface Client {
  ws: WebSocket;
  alive: boolean;
  subs: Map<string, { afterSeq: number; timer: NodeJS.Timeout | null; pumping: boolean }>;
  /** Frames read but not yet handled, in arrival order. */
  queue: { data: RawData; isBinary: boolean }[];
  inFlight: number;
  readsPaused: boolean;
  drainTimer: NodeJS.Timeout | null;
}

export class DaemonServer {
  readonly http: Server;
  private readonly wss: WebSocketServer;
  private readonly clients = new Set<Client>();
  private heartbeat: NodeJS.Timeout | null = null;
  private unlisten: () => void = () => {};
  onClientsChanged: (n: number) => void = () => {};

  constructor(private readonly o: ServerOptions) {
    this.http = createServer((_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' }).end('Redress daemon: WebSocket only.\n');
    });
    this.wss = new WebSocketServer({ noServer: true, maxPayload: MAX_CLIENT_FRAME_BYTES, perMessageDeflate: false });
    this.http.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
    this.wss.on('connection', (ws) => this.connected(ws));
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(0, '127.0.0.1', () => {
        const addr = this.http.address();
        if (!addr || typeof addr === 'string') return reject(new Error('no port'));
        this.heartbeat = setInterval(() => this.beat(), this.o.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
        this.heartbeat.unref();
        this.unlisten = this.o.onLedgerEvent((e) => this.ledgerEvent(e));
        resolve(addr.port);
      });
    });
  }

  clientCount(): number {
    return this.clients.size;
  }

  /** Refuse before any frame is read: wrong or missing secret (401), unknown browser origin (403). */
  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const refuse = (status: number, why: string) => {
      this.o.log(`refused a connection from ${req.socket.remoteAddress}: ${why}`);
      socket.end(`HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : 'Forbidden'}\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\n${why}\n`);
      socket.destroy();
    };
    const origin = req.headers.origin;
    if (origin !== undefined && !this.o.allowedOrigins.includes(origin)) return refuse(403, `origin ${origin} is not allowed`);
    const given = req.headers[SECRET_HEADER];
    if (typeof given !== 'string' || !safeEqual(given, this.o.secret)) return refuse(401, `missing or wrong ${SECRET_HEADER} header`);
    this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req));
  }

  private connected(ws: WebSocket): void {
    const c: Client = { ws, alive: true, subs: new Map(), queue: [], inFlight: 0, readsPaused: false, drainTimer: null };
    this.clients.add(c);
    this.onClientsChanged(this.clients.size);
    ws.on('pong', () => (c.alive = true));
    ws.on('message', (data, isBinary) => {
      c.queue.push({ data, isBinary });
      this.startRequests(c);
    });
    ws.on('error', (e) => this.o.log(`client error: ${e.message}`));
    ws.on('close', () => {
      for (const s of c.subs.values()) if (s.timer) clearTimeout(s.timer);
      if (c.drainTimer) clearTimeout(c.drainTimer);
      c.queue.length = 0;
      this.clients.delete(c);
      this.onClientsChanged(this.clients.size);
    });
  }

  private beat(): void {
    for (const c of this.clients) {
      if (!c.alive) {
        c.ws.terminate();
        continue;
      }
      c.alive = false;
      c.ws.ping();
    }
  }

  private send(c: Client, f: ServerFrame): void {
    if (c.ws.readyState === c.ws.OPEN) c.ws.send(JSON.stringify(f, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
  }

  /** Starts the client's queued requests while its replies drain; pauses reading its socket while they back up. */
  private startRequests(c: Client): void {
    if (c.ws.readyState !== c.ws.OPEN) return;
    const backedUp = () => c.ws.bufferedAmount > REPLY_HIGH_WATER_BYTES;
    while (c.queue.length > 0 && c.inFlight < MAX_REQUESTS_IN_FLIGHT && !backedUp()) {
      const f = c.queue.shift()!;
      c.inFlight++;
      void this.handleFrame(c, f.data, f.isBinary).finally(() => {
        c.inFlight--;
        this.startRequests(c);
      });
    }
    const pause = c.queue.length >= MAX_QUEUED_FRAMES;
    if (pause !== c.readsPaused) {
      if (pause) c.ws.pause();
      else c.ws.resume();
      c.readsPaused = pause;
    }
    // ws has no drain event of its own: look again shortly while the replies are what holds requests back.
    if (c.queue.length > 0 && backedUp() && !c.drainTimer) {
      c.drainTimer = setTimeout(() => {
        c.drainTimer = null;
        this.startRequests(c);
      }, 20);
    }
  }

  /** Parse at the boundary: a bad frame gets a typed error reply, never an exception in the loop. */
  private async handleFrame(c: Client, data: RawData, isBinary: boolean): Promise<void> {
    let id: number | null = null;
    try {
      if (isBinary) throw new RedressError('BAD_FRAME', 'Binary frames are not part of the protocol; send JSON text.');
      let json: unknown;
      try {
        json = JSON.parse(data.toString());
      } catch {
        throw new RedressError('BAD_FRAME', 'The frame is not valid JSON. Send {"id": <number>, "method": "<name>", "params": {...}}.');
      }
      const req = Request.safeParse(json);
      if (!req.success) throw new RedressError('BAD_FRAME', `The frame is not a request: ${req.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}.`);
      id = req.data.id;
      const method = req.data.method as Method;
      if (!Object.prototype.hasOwnProperty.call(methods, method)) {
        throw new RedressError('UNKNOWN_METHOD', `No method "${req.data.method}". Methods: ${Object.keys(methods).join(', ')}.`);
      }
      const params = methods[method].params.safeParse(req.data.params ?? {});
      if (!params.success) {
        throw new RedressError('BAD_FRAME', `Invalid params for ${method}: ${params.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}.`);
      }
      let result: unknown;
      if (method === 'subscribe') result = this.subscribe(c, params.data as { runId: string; fromSeq: number });
      else if (method === 'unsubscribe') result = this.unsubscribe(c, (params.data as { runId: string }).runId);
      else result = await (this.o.handlers[method] as (p: unknown) => Promise<unknown>)(params.data);
      this.send(c, { type: 'result', id, result });
    } catch (e) {
      const err = coerceError(e);
      if (err.code === 'INTERNAL') this.o.log(`internal error: ${err.message}\n${String(err.data?.stack ?? '')}`);
      this.send(c, { type: 'error', id, error: err.toJSON() });
    }
  }

  private subscribe(c: Client, p: { runId: string; fromSeq: number }): { subscribed: true } {
    this.o.handlers.run({ runId: p.runId }); // throws RUN_NOT_FOUND for unknown runs
    const old = c.subs.get(p.runId);
    if (old?.timer) clearTimeout(old.timer);
    c.subs.set(p.runId, { afterSeq: p.fromSeq, timer: null, pumping: false });
    setImmediate(() => this.pump(c, p.runId));
    return { subscribed: true };
  }

  private unsubscribe(c: Client, runId: string): { unsubscribed: true } {
    const s = c.subs.get(runId);
    if (s?.timer) clearTimeout(s.timer);
    c.subs.delete(runId);
    return { unsubscribed: true };
  }

  /**
   * An event the ledger could not record (it is full): sent once to the run's subscribers with seq 0,
   * which no ledger event has.
   */
  broadcastUnrecorded(runId: string, kind: RunEvent['kind'], data: Record<string, unknown>): void {
    const event: RunEvent = { runId, seq: 0, kind, at: new Date().toISOString(), data: { ...data, recorded: false } };
    for (const c of this.clients) if (c.subs.has(runId)) this.send(c, { type: 'event', event });
  }

  private ledgerEvent(e: LedgerEvent): void {
    if (!e.runId) return;
    for (const c of this.clients) if (c.subs.has(e.runId)) this.pump(c, e.runId);
  }

  /** Sends the run's next events from the ledger while the client keeps up; waits while it does not. */
  private pump(c: Client, runId: string): void {
    const s = c.subs.get(runId);
    if (!s || s.pumping || s.timer) return;
    s.pumping = true;
    try {
      while (c.ws.readyState === c.ws.OPEN) {
        if (c.ws.bufferedAmount > HIGH_WATER_BYTES) {
          s.timer = setTimeout(() => {
            s.timer = null;
            this.pump(c, runId);
          }, 20);
          return;
        }
        const evs = this.o.eventsFor(runId, s.afterSeq, 50);
        if (evs.length === 0) return;
        for (const e of evs) {
          const event: RunEvent = { runId, seq: e.seq, kind: e.kind as RunEvent['kind'], at: e.at, data: e.data };
          this.send(c, { type: 'event', event });
          s.afterSeq = e.seq;
        }
      }
    } finally {
      s.pumping = false;
    }
  }

  async close(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.unlisten();
    for (const c of this.clients) {
      for (const s of c.subs.values()) if (s.timer) clearTimeout(s.timer);
      c.ws.close(1001, 'daemon stopping');
    }
    await new Promise<void>((r) => this.wss.close(() => r()));
    await new Promise<void>((r) => this.http.close(() => r()));
    for (const c of this.clients) c.ws.terminate();
  }
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
