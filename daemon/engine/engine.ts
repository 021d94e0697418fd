// The engine's front door: preview, and starting, pausing, resuming and cancelling runs.
// Runs execute in this process, one loop per run; their record is the ledger.
import { randomInt } from 'node:crypto';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { coerceError, RedressError } from '../../shared/errors';
import type { ParsedParams, Result, RunKind } from '../../shared/protocol';
import { lanesOf, type Ledger, type RunRow } from '../ledger/ledger';
import { SnapshotTarget } from '../targets/snapshot';
import type { RunLock, Target } from '../targets/target';
import { isCanary, planContext, runApply, runRollback, runVerify, type ApplyOptions } from './apply';
import { runDryRun, type DryRunOptions } from './dryRun';
import { addToSummary, evaluateBatch, toRowDiff } from './evaluate';
import { emptySummary } from '../ledger/ledger';
import { prepare, rowTokenizer } from './prepare';
import { RunControl, type RunOutcome } from './runControl';

const HALTING: string[] = ['SCHEMA_DRIFT', 'CANARY_FAILED', 'QUARANTINE_LIMIT', 'TRANSFORM_TIMEOUT', 'PLAN_STALE', 'PLAN_TAMPERED', 'NON_DETERMINISTIC'];

export class Engine {
  private readonly active = new Map<string, { ctl: RunControl; done: Promise<void>; correctionId: string; kind: RunRow['kind'] }>();
  /** Runs whose end could not be written to the ledger, with how they ended. */
  private readonly unrecorded = new Map<string, { status: RunRow['status']; message: string }>();
  /** Called when a run ends but the ledger could not record it; the server tells subscribers. */
  onUnrecordedEnd: (runId: string, status: RunRow['status'], message: string) => void = () => {};

  constructor(
    readonly ledger: Ledger,
    readonly target: Target,
    readonly workspace: string,
    private readonly log: (msg: string) => void = () => {},
  ) {}

  /** On start: runs the previous daemon left "running" were cut off; say so in the ledger. */
  markInterrupted(): string[] {
    const ids: string[] = [];
    for (const r of this.ledger.runsWithStatus('running')) {
      this.ledger.setStatus(r.id, 'interrupted', 'interrupted', 'the daemon stopped while this run was going; resume it to continue from its last checkpoint');
      ids.push(r.id);
    }
    return ids;
  }

  /** A run as the ledger has it, with an end the ledger could not record laid over it. */
  runView(run: RunRow): RunRow {
    const u = this.unrecorded.get(run.id);
    return u && run.status === 'running' ? { ...run, status: u.status, message: u.message } : run;
  }

  activeRunIds(): string[] {
    return [...this.active.keys()];
  }

  async preview(p: ParsedParams<'preview'>): Promise<Result<'preview'>> {
    const started = performance.now();
    const file = resolve(this.workspace, p.correction);
    // A snapshot stands in for the target's rows; the target still says what values become when stored.
    const target = p.snapshot ? new SnapshotTarget(resolve(this.workspace, p.snapshot), this.target) : this.target;
    try {
      const prep = await prepare(file, target, { seed: p.seed ?? 1, now: Date.now(), params: p.params });
      try {
        const n = p.sampleSize ?? prep.manifest.options.sampleSize;
        const rows = await target.sample(prep.scan, prep.schema, n, p.seed ?? 1);
        const evs = await evaluateBatch(prep, target, rowTokenizer(target, prep.schema), rows, () => true);
        const summary = emptySummary();
        addToSummary(summary, evs);
        return {
          correctionId: prep.manifest.id,
          sampleSize: rows.length,
          summary,
          diffs: evs.filter((e) => e.status !== 'unchanged').map((e) => toRowDiff(e, prep.scan.key)),
          durationMs: performance.now() - started,
        };
      } finally {
        await prep.sandbox.close();
      }
    } finally {
      if (target !== this.target) await target.close();
    }
  }

  async startDryRun(p: ParsedParams<'dryRun'>): Promise<string> {
    const file = resolve(this.workspace, p.correction);
    const seed = randomInt(2 ** 31);
    const now = Date.now();
    const prep = await prepare(file, this.target, { seed, now, params: p.params });
    await prep.sandbox.close();
    this.ensureNotBusy(prep.manifest.id);
    const options: DryRunOptions = {
      batchSize: p.batchSize ?? prep.manifest.options.batchSize,
      seed,
      now,
      params: p.params,
      codeHash: prep.codeHash,
      fingerprint: prep.schema.fingerprint,
      quarantineThreshold: prep.manifest.options.quarantineThreshold,
    };
    const total = await this.target.countRows(prep.scan);
    const run = this.ledger.createRun({ kind: 'dry-run', correctionId: prep.manifest.id, correctionPath: file, options: { ...options, key: prep.scan.key }, totalRows: total });
    await this.launch(run);
    return run.id;
  }

  async startApply(p: ParsedParams<'apply'>): Promise<string> {
    const plan = this.ledger.requirePlan(p.planId);
    this.ensureNotBusy(plan.correctionId);
    const lock = await this.lockRun(plan.id);
    try {
      return await this.startApplyLocked(p, plan, lock);
    } catch (e) {
      await lock?.release();
      throw e;
    }
  }

  private async startApplyLocked(p: ParsedParams<'apply'>, plan: ReturnType<Ledger['requirePlan']>, lock: RunLock | undefined): Promise<string> {
    const batchSize = p.batchSize ?? (JSON.parse(plan.manifest) as { options: { batchSize: number } }).options.batchSize;
    if (p.restOf) {
      const canary = this.ledger.requireRun(p.restOf);
      const co = canary.options as unknown as ApplyOptions;
      if (canary.kind !== 'apply' || canary.planId !== plan.id || !isCanary(co) || co.excludeCanaryPercent !== undefined || co.excludeCanaryRows !== undefined) {
        throw new RedressError('RUN_STATE', `--rest-of takes a canary apply run of plan ${plan.id} (one started with \`redress apply ${plan.id} --canary N\` or \`--canary P%\`); ${p.restOf} is not one. See \`redress runs\`.`);
      }
      if (canary.status !== 'completed') throw new RedressError('RUN_STATE', `Canary run ${canary.id} is ${canary.status}; the rest can follow only a completed, verified canary.`);
      const run = this.restRun(canary, { batchSize, ...(p.throttle ? { throttle: p.throttle } : {}), ...(p.concurrency !== undefined ? { concurrency: this.concurrencyOf(p.concurrency, p.throttle) } : {}) });
      await this.launch(run, lock);
      return run.id;
    }
    if (p.canaryPercent !== undefined && p.canaryRows !== undefined) {
      throw new RedressError('RUN_STATE', `A canary is a number of rows or a percentage, not both (got ${p.canaryRows} rows and ${p.canaryPercent}%). Give one: --canary ${p.canaryRows} or --canary ${p.canaryPercent}%.`);
    }
    if (p.afterCanary && p.canaryPercent === undefined && p.canaryRows === undefined) {
      throw new RedressError('RUN_STATE', `--after-canary ${p.afterCanary} needs a canary: add --canary N (rows) or --canary P% (percent).`);
    }
    const options: ApplyOptions = {
      batchSize,
      ...(p.canaryPercent !== undefined ? { canaryPercent: p.canaryPercent } : {}),
      ...(p.canaryRows !== undefined ? { canaryRows: p.canaryRows } : {}),
      ...(p.afterCanary ? { afterCanary: p.afterCanary } : {}),
      ...(p.throttle ? { throttle: p.throttle } : {}),
      concurrency: this.concurrencyOf(p.concurrency, p.throttle),
    };
    const run = this.ledger.createRun({
      kind: 'apply',
      correctionId: plan.correctionId,
      correctionPath: plan.correctionPath,
      planId: plan.id,
      options: options as unknown as Record<string, unknown>,
      totalRows: p.canaryRows !== undefined ? Math.min(p.canaryRows, plan.changes) : plan.changes,
    });
    await this.launch(run, lock);
    return run.id;
  }

  /** The apply run for every planned row outside a canary's slice. */
  private restRun(canary: RunRow, o: Partial<ApplyOptions> = {}): RunRow {
    const co = canary.options as unknown as ApplyOptions;
    const options: ApplyOptions = {
      batchSize: o.batchSize ?? co.batchSize,
      ...(co.canaryRows !== undefined ? { excludeCanaryRows: co.canaryRows } : { excludeCanaryPercent: co.canaryPercent! }),
      ...(o.throttle ?? co.throttle ? { throttle: o.throttle ?? co.throttle } : {}),
      concurrency: o.concurrency ?? lanesOf(co),
    };
    const plan = this.ledger.requirePlan(canary.planId!);
    return this.ledger.createRun({
      kind: 'apply',
      correctionId: canary.correctionId,
      correctionPath: canary.correctionPath,
      planId: plan.id,
      parentRunId: canary.id,
      options: options as unknown as Record<string, unknown>,
      totalRows: Math.max(0, plan.changes - canary.counts.scanned),
    });
  }

  /**
   * Batches an apply writes at once: as asked, else two where the target can write several (PostgreSQL:
   * bench/postgres.ts measures what it gains), one where it cannot (SQLite has a single writer).
   * Recorded with the run: its resume, its rollback and the rollback's view of a cut-off run go by it.
   */
  private concurrencyOf(asked: number | undefined, throttle: ApplyOptions['throttle']): number {
    if (asked !== undefined && asked > 1 && (throttle?.pauseMs ?? 0) > 0) {
      throw new RedressError(
        'RUN_STATE',
        `--concurrency ${asked} and --pause-ms ${throttle!.pauseMs} ask for two things at once: a pause after every batch writes one batch at a time. Drop --concurrency to pause, or drop --pause-ms (and throttle with --target-batch-ms, --throttle-sql or --max-transaction-age) to write ${asked} at once.`,
      );
    }
    const max = this.target.maxConcurrentWrites ?? 1;
    if (asked !== undefined && asked > max) {
      throw new RedressError(
        'RUN_STATE',
        `--concurrency ${asked} is more than ${this.target.description} can write at once: ${max === 1 ? 'it writes one batch at a time' : `at most ${max} batches, one connection of the pool staying free for reads and health checks`}. Give --concurrency ${max}${max > 1 ? ' or less' : ''}.`,
      );
    }
    return asked ?? Math.min(2, max);
  }

  /** `redress tune`: a new batch size or pause for a running write run, from its next batch on. */
  tune(runId: string, t: { batchSize?: number; pauseMs?: number }): void {
    const a = this.active.get(runId);
    if (!a) throw new RedressError('RUN_STATE', `Run ${runId} is not running; only a running apply or rollback can be tuned. See \`redress status ${runId}\`.`);
    if (a.kind !== 'apply' && a.kind !== 'rollback') {
      throw new RedressError('RUN_STATE', `Run ${runId} is a ${a.kind} run; only an apply or rollback can be tuned. Give a ${a.kind} its batch size when starting it (-b).`);
    }
    if (t.batchSize === undefined && t.pauseMs === undefined) throw new RedressError('RUN_STATE', `Nothing to change for run ${runId}: give a batch size (-b N) or a pause (--pause-ms M).`);
    a.ctl.tune(t);
  }

  async startFollowUp(kind: 'rollback' | 'verify', parentId: string): Promise<string> {
    const parent = this.ledger.requireRun(parentId);
    const wanted = kind === 'rollback' ? ['apply'] : ['apply', 'rollback'];
    if (!wanted.includes(parent.kind)) {
      throw new RedressError('RUN_STATE', `${kind} works on ${wanted.join(' or ')} runs; ${parentId} is a ${parent.kind} run.`);
    }
    if (this.active.has(parentId)) {
      throw new RedressError('RUN_STATE', `Run ${parentId} is still going. Pause or cancel it first (\`redress cancel ${parentId}\`), then ${kind}.`);
    }
    if (kind === 'rollback') this.ensureNotBusy(parent.correctionId);
    const plan = this.ledger.requirePlan(parent.planId!);
    const lock = kind === 'rollback' ? await this.lockRun(plan.id) : undefined;
    try {
      const po = parent.options as { batchSize?: number; throttle?: ApplyOptions['throttle']; concurrency?: number };
      const run = this.ledger.createRun({
        kind,
        correctionId: parent.correctionId,
        correctionPath: parent.correctionPath,
        planId: plan.id,
        parentRunId: parent.id,
        // A rollback is throttled as its apply was (the same production table).
        options: { batchSize: po.batchSize ?? 500, ...(kind === 'rollback' && po.throttle ? { throttle: po.throttle } : {}), ...(kind === 'rollback' ? { concurrency: lanesOf(po) } : {}) },
      });
      if (kind === 'rollback' && ['paused', 'interrupted', 'halted', 'failed'].includes(parent.status)) {
        // An apply that did not finish ends here: resuming it would write again, behind the rollback's
        // back, rows the rollback restores, and leave the table half-corrected under a run that completed.
        this.ledger.setStatus(parent.id, 'cancelled', 'cancelled', `rolled back by ${run.id}, so it cannot be resumed. To apply the plan again, start a new run (\`redress apply ${plan.id}\`) once the cause of the ${parent.status} run is dealt with.`);
      }
      await this.launch(run, lock);
      return run.id;
    } catch (e) {
      await lock?.release();
      throw e;
    }
  }

  async resume(runId: string): Promise<string> {
    const run = this.ledger.requireRun(runId);
    if (this.active.has(runId)) throw new RedressError('RUN_STATE', `Run ${runId} is already going.`);
    if (!['paused', 'interrupted', 'halted', 'failed'].includes(run.status)) {
      throw new RedressError('RUN_STATE', `Run ${runId} is ${run.status}; only paused, interrupted, halted or failed runs can be resumed.`);
    }
    this.ensureNotBusy(run.correctionId);
    const lock = run.kind === 'apply' || run.kind === 'rollback' ? await this.lockRun(run.planId!) : undefined;
    try {
      this.ledger.setStatus(runId, 'running', 'resumed', null, { fromBatch: run.batchesDone });
      await this.launch(this.ledger.requireRun(runId), lock);
    } catch (e) {
      await lock?.release();
      throw e;
    }
    return runId;
  }

  request(runId: string, what: 'pause' | 'cancel'): RunRow['status'] {
    const a = this.active.get(runId);
    const run = this.ledger.requireRun(runId);
    if (a) {
      a.ctl.request(what);
      return run.status;
    }
    if (what === 'cancel' && ['paused', 'interrupted', 'halted'].includes(run.status)) {
      this.ledger.setStatus(runId, 'cancelled', 'cancelled', 'cancelled while stopped');
      return 'cancelled';
    }
    throw new RedressError('RUN_STATE', `Run ${runId} is ${run.status}, not running; there is nothing to ${what}.`);
  }

  /** Waits for a run's loop to end (tests, shutdown). */
  async settled(runId: string): Promise<void> {
    await this.active.get(runId)?.done;
  }

  async stopAll(): Promise<void> {
    for (const a of this.active.values()) a.ctl.request('pause');
    await Promise.all([...this.active.values()].map((a) => a.done));
  }

  private ensureNotBusy(correctionId: string): void {
    for (const [id, a] of this.active) {
      if (a.correctionId === correctionId) {
        throw new RedressError('BUSY', `Run ${id} of ${correctionId} is going on ${this.target.description}. Two runs of one correction on one target never overlap: wait for it, or pause it.`, { runId: id });
      }
    }
  }

  /**
   * The target's lock for a write run of this plan's correction (PostgreSQL: a session-level advisory
   * lock, so a run of the same correction from another daemon is refused); undefined where the target
   * has none. Throws BUSY, naming the holder, before anything is written.
   */
  private async lockRun(planId: string): Promise<RunLock | undefined> {
    if (!this.target.lockRun) return undefined;
    const { scan } = planContext(this.ledger.requirePlan(planId));
    return this.target.lockRun(scan, `redress starting ${scan.correctionId} pid ${process.pid}@${hostname()}`);
  }

  private async launch(run: RunRow, lock?: RunLock): Promise<void> {
    // Whoever is refused the lock learns which run of which daemon holds it.
    await lock?.describe(`redress run ${run.id} pid ${process.pid}@${hostname()}`);
    const ctl = new RunControl();
    ctl.note = (msg) => this.log(`run ${run.id}: ${msg}`);
    const entry = { ctl, done: Promise.resolve(), correctionId: run.correctionId, kind: run.kind };
    this.active.set(run.id, entry);
    entry.done = this.drive(run, ctl, lock).finally(() => this.active.delete(run.id));
  }

  private async drive(run: RunRow, ctl: RunControl, lock?: RunLock): Promise<void> {
    let outcome: RunOutcome;
    // The run lock is given up as soon as the loop ends (before the end is recorded, so whoever sees the
    // run end can start the next one at once), except when a clean canary hands it on to the rest.
    const release = async () => {
      await lock?.release().catch((e: unknown) => this.log(`run ${run.id}: could not release its lock: ${coerceError(e).message}`));
    };
    try {
      outcome = await loops[run.kind](this.ledger, this.target, run, ctl);
    } catch (e) {
      await release();
      const err = coerceError(e);
      const status = HALTING.includes(err.code) ? 'halted' : 'failed';
      this.log(`run ${run.id} ${status}: ${err.message}`);
      try {
        this.ledger.setStatus(run.id, status, status, err.message, { code: err.code, ...(err.data ? { error: err.data } : {}) });
      } catch (e2) {
        // The ledger cannot be written (full disk): the run stays "running" there and is marked
        // interrupted by the next daemon; until then clients learn the end from here.
        this.log(`could not record the end of run ${run.id}: ${coerceError(e2).message}`);
        this.unrecorded.set(run.id, { status, message: err.message });
        this.onUnrecordedEnd(run.id, status, err.message);
      }
      return;
    }
    // A clean canary that may continue by itself starts the rest of its plan as a run of its own.
    const continues = run.kind === 'apply' && outcome.data?.canaryVerified !== undefined && (run.options as unknown as ApplyOptions).afterCanary === 'continue';
    let rest: RunRow | null = null;
    try {
      if (continues) rest = this.restRun(this.ledger.requireRun(run.id));
    } finally {
      if (!rest) await release();
    }
    this.ledger.setStatus(run.id, outcome.status, outcome.status, outcome.message, { ...(outcome.data ?? {}), ...(rest ? { restRunId: rest.id } : {}) });
    if (rest) await this.launch(rest, lock);
  }
}

const loops: Record<RunKind, (l: Ledger, t: Target, r: RunRow, c: RunControl) => Promise<RunOutcome>> = {
  'dry-run': runDryRun,
  apply: runApply,
  rollback: runRollback,
  verify: runVerify,
};
