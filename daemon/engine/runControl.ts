// How a running loop learns that a person asked it to pause or cancel, and yields to the event loop.
import type { RunStatus } from '../../shared/protocol';

export interface RunOutcome {
  status: Extract<RunStatus, 'completed' | 'paused' | 'cancelled'>;
  message: string;
  data?: Record<string, unknown>;
}

export class RunControl {
  private requested: 'pause' | 'cancel' | null = null;

  request(what: 'pause' | 'cancel'): void {
    if (this.requested !== 'cancel') this.requested = what;
  }

  /** Checked between batches: a batch is never cut in half. */
  stopRequested(): RunOutcome | null {
    if (this.requested === 'pause') return { status: 'paused', message: 'paused at a batch boundary; resume to continue' };
    if (this.requested === 'cancel') return { status: 'cancelled', message: 'cancelled at a batch boundary; committed batches stay applied and can be rolled back' };
    return null;
  }

  /** Lets sockets and timers run between batches (SQLite calls are synchronous). */
  progress(): Promise<void> {
    return new Promise((resolve) => setImmediate(resolve));
  }
}
