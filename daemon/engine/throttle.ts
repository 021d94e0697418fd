// Throttling of write runs (GitLab's batched migrations and gh-ost are the models):
//  - a fixed pause between batches;
//  - a target batch duration: the batch size grows slowly while batches finish faster than the target
//    and shrinks fast when one takes much longer, within bounds;
//  - pausing while the target's health check says so (a configurable SQL query, long-running
//    transactions, replication lag), polled until it clears or the run is paused or cancelled.
// The batch size and the pause of a running run can be changed (`redress tune`); the next batch uses them.
import type { RunControl } from './runControl';

export interface ThrottleOptions {
  /** Pause after each batch (ms). */
  pauseMs?: number;
  /** Aim for batches that take this long (ms): the batch size adapts. */
  targetBatchMs?: number;
  minBatchSize?: number;
  maxBatchSize?: number;
  /** SQL whose first column is true while writes should wait (the target runs it before each batch). */
  healthQuery?: string;
  /** Wait while another transaction has been open longer than this (s). */
  maxTransactionAgeS?: number;
  /** Wait while a replica lags more than this (s). */
  maxReplicationLagS?: number;
  /** How often to re-check the health while waiting (ms). */
  healthPollMs?: number;
}

/** What a target answers when asked whether writes should wait: null to go on, or why not. */
export type HealthCheck = (o: Pick<ThrottleOptions, 'healthQuery' | 'maxTransactionAgeS' | 'maxReplicationLagS'>) => Promise<string | null>;

export interface Tuning {
  batchSize?: number;
  pauseMs?: number;
}

const GROW = 1.2;
const SHRINK = 0.5;

export class Throttle {
  batchSize: number;
  private pauseMs: number;
  private readonly min: number;
  private readonly max: number;
  /** Why the last wait happened (for progress events), null when not waiting. */
  waitingFor: string | null = null;

  constructor(
    private readonly o: ThrottleOptions,
    initialBatchSize: number,
    private readonly health: HealthCheck | undefined,
  ) {
    this.min = Math.max(1, o.minBatchSize ?? Math.min(initialBatchSize, 10));
    this.max = maxBatchSizeOf(initialBatchSize, o);
    this.batchSize = clamp(initialBatchSize, this.min, this.max);
    this.pauseMs = o.pauseMs ?? 0;
  }

  /** Whether batches are to be paused between: then they are written one at a time, the pause between them. */
  get pausing(): boolean {
    return this.pauseMs > 0;
  }

  private get checksHealth(): boolean {
    return !!this.health && (this.o.healthQuery !== undefined || this.o.maxTransactionAgeS !== undefined || this.o.maxReplicationLagS !== undefined);
  }

  /** Changes from `redress tune`: an explicit batch size also becomes the adaptive size's starting point. */
  tune(t: Tuning): void {
    if (t.batchSize !== undefined) this.batchSize = clamp(t.batchSize, 1, this.max);
    if (t.pauseMs !== undefined) this.pauseMs = Math.max(0, t.pauseMs);
  }

  /** Before a batch: waits while the health check says so. Returns false when a stop was requested meanwhile. */
  async beforeBatch(ctl: RunControl): Promise<boolean> {
    this.tune(ctl.takeTuning());
    if (!this.checksHealth) return true;
    for (;;) {
      const why = await this.health!(this.o);
      if (why === null) {
        this.waitingFor = null;
        this.tune(ctl.takeTuning()); // tuned while waiting: the batch about to start uses it
        return true;
      }
      if (this.waitingFor !== why) ctl.note(`waiting: ${why}`);
      this.waitingFor = why;
      if (!(await ctl.sleep(this.o.healthPollMs ?? 1000))) return false;
    }
  }

  /** After a committed batch of `rows` rows that took `ms`: adapt the size, then pause. Returns false on a stop request. */
  async afterBatch(ctl: RunControl, rows: number, ms: number): Promise<boolean> {
    const target = this.o.targetBatchMs;
    if (target && rows >= this.batchSize * 0.9) {
      // Only full batches say anything about the size: the last, short one does not.
      if (ms > target * 1.5) this.batchSize = clamp(Math.floor(this.batchSize * SHRINK), this.min, this.max);
      else if (ms < target / GROW) this.batchSize = clamp(Math.ceil(this.batchSize * GROW), this.min, this.max);
    }
    this.tune(ctl.takeTuning());
    // The pause counts from the end of the batch; a tune during it applies at once (a shorter pause ends
    // it sooner, a longer one extends it).
    const start = performance.now();
    for (;;) {
      const left = this.pauseMs - (performance.now() - start);
      if (left <= 0) return true;
      if (!(await ctl.sleep(left))) return false;
      this.tune(ctl.takeTuning());
    }
  }
}

/**
 * The largest batch a run can write: its batch size, or with throttling the adaptive bound (tuning never
 * goes past it). Rollback relies on it to cover a batch committed after the last checkpoint.
 */
export function maxBatchSizeOf(batchSize: number, o: ThrottleOptions | undefined): number {
  if (!o) return batchSize;
  return Math.max(batchSize, o.maxBatchSize ?? Math.max(batchSize, 10_000));
}

function clamp(n: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, Math.round(n)));
}
