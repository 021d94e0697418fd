// The daemon connection's life, without vscode: states, start/stop/restart, reconnect with capped
// backoff after an unexpected disconnect, and giving up after a few crashes in a few minutes
// (vscode-languageserver-node's DefaultErrorHandler). ctx.ts shows it in the editor.
import type { DaemonClient } from '../shared/client';
import { coerceError, RedressError } from '../shared/errors';
import type { RunEvent } from '../shared/protocol';
import type { Connected } from './daemon';

export type DaemonState =
  | { kind: 'stopped' }
  | { kind: 'starting'; detail: string }
  | { kind: 'connected'; pid: number; version: string; started: boolean }
  /** `retryInMs` set: a reconnect is scheduled; otherwise the next command tries again (or, gaveUp, only a restart does). */
  | { kind: 'down'; message: string; gaveUp: boolean; retryInMs?: number };

/** Crash accounting: retry with exponential backoff up to `capMs`; stop after `max` crashes within `windowMs`. */
export class RestartPolicy {
  private crashes: number[] = [];
  constructor(
    readonly max = 4,
    readonly windowMs = 3 * 60_000,
    readonly baseMs = 500,
    readonly capMs = 10_000,
  ) {}

  onCrash(now: number): { retry: true; delayMs: number } | { retry: false; crashes: number } {
    this.crashes = this.crashes.filter((t) => now - t < this.windowMs);
    this.crashes.push(now);
    if (this.crashes.length >= this.max) return { retry: false, crashes: this.crashes.length };
    return { retry: true, delayMs: Math.min(this.capMs, this.baseMs * 2 ** (this.crashes.length - 1)) };
  }

  reset(): void {
    this.crashes = [];
  }
}

export interface SessionOptions {
  /** Finds or starts the daemon and connects (daemon.ts connectOrStart with the current settings). */
  connect: (progress: (detail: string) => void) => Promise<Connected>;
  /** Stops the daemon process itself (restart). */
  stopDaemon: (c: Connected | null) => Promise<void>;
  log: (line: string) => void;
  policy?: RestartPolicy;
  now?: () => number;
}

export class DaemonSession {
  private _state: DaemonState = { kind: 'stopped' };
  private conn: Connected | null = null;
  private starting: Promise<DaemonClient> | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private readonly stateListeners = new Set<(s: DaemonState) => void>();
  private readonly eventListeners = new Set<(e: RunEvent) => void>();
  private readonly connectedListeners = new Set<(c: DaemonClient) => void>();
  /** Cleanups for the current connection only; run when it closes. */
  private connectionCleanups: (() => void)[] = [];
  private readonly policy: RestartPolicy;
  private disposed = false;

  constructor(private readonly o: SessionOptions) {
    this.policy = o.policy ?? new RestartPolicy();
  }

  get state(): DaemonState {
    return this._state;
  }

  get client(): DaemonClient | null {
    return this.conn?.client ?? null;
  }

  get pid(): number | null {
    return this.conn?.info.pid ?? null;
  }

  onState(fn: (s: DaemonState) => void): () => void {
    this.stateListeners.add(fn);
    return () => this.stateListeners.delete(fn);
  }

  /** Run events from whichever connection is current. */
  onRunEvent(fn: (e: RunEvent) => void): () => void {
    this.eventListeners.add(fn);
    return () => this.eventListeners.delete(fn);
  }

  /** Called on every (re)connection, e.g. to subscribe again to runs being followed. */
  onConnected(fn: (c: DaemonClient) => void): () => void {
    this.connectedListeners.add(fn);
    return () => this.connectedListeners.delete(fn);
  }

  private set(s: DaemonState): void {
    this._state = s;
    for (const l of this.stateListeners) {
      try {
        l(s);
      } catch (e) {
        this.o.log(`state listener failed: ${coerceError(e).message}`);
      }
    }
  }

  /** The connected client; starts (or reuses) the daemon if needed. Rejects with a clear message when it cannot. */
  async ensure(): Promise<DaemonClient> {
    if (this.disposed) throw new RedressError('DAEMON_UNAVAILABLE', 'The Redress extension is shutting down.');
    if (this.conn) return this.conn.client;
    if (this.starting) return this.starting;
    if (this._state.kind === 'down' && this._state.gaveUp) {
      throw new RedressError('DAEMON_UNAVAILABLE', `${this._state.message} Redress stopped restarting it. Run "Redress: Restart Daemon" after looking at the logs.`);
    }
    return this.start();
  }

  /** Starts or connects now (cancels a scheduled reconnect). */
  start(): Promise<DaemonClient> {
    if (this.starting) return this.starting;
    this.clearReconnect();
    this.set({ kind: 'starting', detail: 'connecting' });
    this.starting = this.o
      .connect((detail) => this.set({ kind: 'starting', detail }))
      .then(
        (c) => {
          this.starting = null;
          if (this.disposed) {
            c.client.close();
            throw new RedressError('DAEMON_UNAVAILABLE', 'The Redress extension is shutting down.');
          }
          this.attach(c);
          return c.client;
        },
        (e: unknown) => {
          this.starting = null;
          const err = coerceError(e);
          this.o.log(`could not start or reach the daemon: ${err.message}`);
          this.set({ kind: 'down', message: err.message, gaveUp: false });
          throw err;
        },
      );
    return this.starting;
  }

  private attach(c: Connected): void {
    this.conn = c;
    const offEvents = c.client.onEvent((e) => {
      for (const l of this.eventListeners) l(e);
    });
    this.connectionCleanups.push(offEvents);
    c.client.onClose = (err) => this.closed(c, err);
    this.o.log(`connected to daemon pid ${c.info.pid} on port ${c.info.port}${c.started ? ' (started it)' : ' (already running)'}`);
    this.set({ kind: 'connected', pid: c.info.pid, version: c.info.version ?? '?', started: c.started });
    for (const l of this.connectedListeners) l(c.client);
  }

  private detach(): void {
    for (const f of this.connectionCleanups.splice(0)) {
      try {
        f();
      } catch {
        /* cleanup must not throw */
      }
    }
    if (this.conn) this.conn.client.onClose = () => {};
    this.conn = null;
  }

  private closed(c: Connected, err: Error): void {
    if (this.conn !== c) return;
    this.detach();
    if (this.disposed) return;
    const decision = this.policy.onCrash((this.o.now ?? Date.now)());
    this.o.log(`lost the daemon connection: ${err.message}`);
    if (!decision.retry) {
      this.set({ kind: 'down', message: `The daemon went away ${decision.crashes} times in ${Math.round(this.policy.windowMs / 60_000)} minutes (last: ${err.message}).`, gaveUp: true });
      return;
    }
    this.set({ kind: 'down', message: err.message, gaveUp: false, retryInMs: decision.delayMs });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.start().catch((e: unknown) => {
        // A failed reconnect counts as another crash: retry later or give up.
        const again = this.policy.onCrash((this.o.now ?? Date.now)());
        const msg = coerceError(e).message;
        if (!again.retry) this.set({ kind: 'down', message: `The daemon could not be restarted ${again.crashes} times (last: ${msg}).`, gaveUp: true });
        else {
          this.set({ kind: 'down', message: msg, gaveUp: false, retryInMs: again.delayMs });
          this.reconnectTimer = setTimeout(() => {
            this.reconnectTimer = null;
            void this.start().catch(() => undefined);
          }, again.delayMs);
        }
      });
    }, decision.delayMs);
  }

  private clearReconnect(): void {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
  }

  /** Closes this window's connection; the daemon keeps serving other windows and exits when idle. */
  async stop(): Promise<void> {
    this.clearReconnect();
    if (this.starting) await this.starting.catch(() => undefined);
    const c = this.conn;
    this.detach();
    c?.client.close();
    this.set({ kind: 'stopped' });
  }

  /** Stops the daemon process and starts a new one (settings that need a restart, or after giving up). */
  async restart(): Promise<DaemonClient> {
    this.clearReconnect();
    if (this.starting) await this.starting.catch(() => undefined);
    const c = this.conn;
    this.detach();
    this.set({ kind: 'starting', detail: 'stopping the old daemon' });
    await this.o.stopDaemon(c);
    this.policy.reset();
    return this.start();
  }

  /** Stops the daemon process (for every window using it); the next command starts a new one. */
  async stopDaemon(): Promise<void> {
    this.clearReconnect();
    if (this.starting) await this.starting.catch(() => undefined);
    const c = this.conn;
    this.detach();
    await this.o.stopDaemon(c);
    this.policy.reset();
    this.set({ kind: 'stopped' });
  }

  /** For deactivate(): stop, and ignore everything after. */
  async dispose(): Promise<void> {
    await this.stop();
    this.disposed = true;
    this.stateListeners.clear();
    this.eventListeners.clear();
    this.connectedListeners.clear();
  }
}
