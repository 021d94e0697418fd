// How a running loop learns that a person asked it to pause or cancel, and yields to the event loop.
import type { RunStatus } from '../../shared/protocol';
import type { Tuning } from './throttle';

export interface RunOutcome {
  status: Extract<RunStatus, 'completed' | 'paused' | 'cancelled'>;
  message: string;
  data?: Record<string, unknown>;
}

export class RunControl {
  private requested: 'pause' | 'cancel' | null = null;
  private tuning: Tuning = {};
  private wake: (() => void) | null = null;
  /** Where the loop tells why it waits (the engine logs it). */
  note: (msg: string) => void = () => {};

  request(what: 'pause' | 'cancel'): void {
    if (this.requested !== 'cancel') this.requested = what;
    this.wake?.();
  }

  /** `redress tune`: takes effect at the next batch; a pause or health wait going on re-reads it at once. */
  tune(t: Tuning): void {
    this.tuning = { ...this.tuning, ...t };
    this.wake?.();
  }

  takeTuning(): Tuning {
    const t = this.tuning;
    this.tuning = {};
    return t;
  }

  /** Waits `ms`, or less when a pause or cancel is asked for; false when one was. */
  sleep(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve(this.requested === null);
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
      if (this.requested !== null) done();
    });
  }

  /** Checked between batches: a batch is never cut in half. */
  stopRequested(writes = true): RunOutcome | null {
    if (this.requested === 'pause') return { status: 'paused', message: 'paused at a batch boundary; resume to continue' };
    if (this.requested === 'cancel') {
      return {
        status: 'cancelled',
        message: writes ? 'cancelled at a batch boundary; committed batches stay applied and can be rolled back' : 'cancelled at a batch boundary; nothing was written to the target',
      };
    }
    return null;
  }

  /** Lets sockets and timers run between batches (SQLite calls are synchronous). */
  progress(): Promise<void> {
    return new Promise((resolve) => setImmediate(resolve));
  }
}
