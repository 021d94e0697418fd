// A typed client for the daemon's WebSocket protocol, used by the CLI and the VS Code extension.
import WebSocket from 'ws';
import { RedressError, type ErrorCode } from './errors';
import { MAX_CLIENT_FRAME_BYTES, PROTOCOL_VERSION, SECRET_HEADER, ServerFrame, methods, type Method, type Params, type Result, type RunEvent } from './protocol';

export interface Endpoint {
  port: number;
  secret: string;
}

export class DaemonClient {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; method: Method }>();
  private readonly eventHandlers = new Set<(e: RunEvent) => void>();
  private closedError: Error | null = null;
  onClose: (err: Error) => void = () => {};

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => this.frame(data.toString()));
    ws.on('close', (code, reason) => {
      const err = new RedressError('DAEMON_UNAVAILABLE', `The connection to the daemon closed (${code}${reason.length ? ` ${reason.toString()}` : ''}). Run \`redress daemon status\`; the daemon log is .redress/daemon.log.`, { code });
      this.closedError = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      this.onClose(err);
    });
    ws.on('error', () => {});
  }

  static connect(ep: Endpoint, client = 'redress-cli', timeoutMs = 5000): Promise<DaemonClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${ep.port}/`, { headers: { [SECRET_HEADER]: ep.secret }, handshakeTimeout: timeoutMs, maxPayload: 256 * 1024 * 1024 });
      ws.once('open', () => {
        const c = new DaemonClient(ws);
        c.request('hello', { protocol: PROTOCOL_VERSION, client }, { timeoutMs }).then(
          () => resolve(c),
          (e) => {
            ws.terminate();
            reject(e);
          },
        );
      });
      ws.once('unexpected-response', (_req, res) => {
        reject(new RedressError('UNAUTHORIZED', `The daemon refused the connection (HTTP ${res.statusCode}). Its secret changed; reconnect with the current .redress/daemon.json.`));
        ws.terminate();
      });
      ws.once('error', (e) => reject(new RedressError('DAEMON_UNAVAILABLE', `Cannot reach the daemon on port ${ep.port}: ${e.message}.`)));
    });
  }

  /**
   * Sends one request. A request larger than the daemon accepts is refused here, before it is sent
   * (the daemon would close the connection). With `timeoutMs`, a daemon that does not answer in time
   * rejects the request with DAEMON_UNAVAILABLE; a late answer is dropped.
   */
  request<M extends Method>(method: M, params: Params<M>, opts: { timeoutMs?: number } = {}): Promise<Result<M>> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    const frame = JSON.stringify({ id, method, params });
    const bytes = Buffer.byteLength(frame);
    if (bytes > MAX_CLIENT_FRAME_BYTES) {
      return Promise.reject(new RedressError('BAD_FRAME', `The ${method} request is ${bytes} bytes, more than the daemon accepts (${MAX_CLIENT_FRAME_BYTES}); it was not sent.`, { bytes }));
    }
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const settle = <T>(fn: (v: T) => void) => (v: T) => {
        if (timer) clearTimeout(timer);
        fn(v);
      };
      this.pending.set(id, { resolve: settle(resolve as (v: unknown) => void), reject: settle(reject), method });
      if (opts.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          if (!this.pending.delete(id)) return;
          reject(new RedressError('DAEMON_UNAVAILABLE', `The daemon did not answer ${method} within ${Math.round(opts.timeoutMs! / 1000)} s. It may be stuck: look at .redress/daemon.log, or restart it.`, { method, timeoutMs: opts.timeoutMs }));
        }, opts.timeoutMs);
      }
      this.ws.send(frame);
    });
  }

  onEvent(fn: (e: RunEvent) => void): () => void {
    this.eventHandlers.add(fn);
    return () => this.eventHandlers.delete(fn);
  }

  private frame(text: string): void {
    let f: ServerFrame;
    try {
      f = ServerFrame.parse(JSON.parse(text));
    } catch {
      return; // a frame we do not understand is dropped, not fatal
    }
    if (f.type === 'event') {
      for (const h of this.eventHandlers) h(f.event);
      return;
    }
    if (f.id === null) return;
    const p = this.pending.get(f.id);
    if (!p) return;
    this.pending.delete(f.id);
    if (f.type === 'error') p.reject(new RedressError(f.error.code as ErrorCode, f.error.message, f.error.data));
    else {
      const parsed = methods[p.method].result.safeParse(f.result);
      if (parsed.success) p.resolve(parsed.data);
      else p.reject(new RedressError('BAD_FRAME', `The daemon's answer to ${p.method} does not match the protocol: ${parsed.error.issues[0]?.message ?? ''}`));
    }
  }

  close(): void {
    this.ws.close();
  }

  /** The underlying socket, for tests that need to misbehave on purpose. */
  get socket(): WebSocket {
    return this.ws;
  }
}
