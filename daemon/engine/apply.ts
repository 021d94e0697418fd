// Apply and rollback: the plan's rows, batch by batch, each batch one compare-and-set transaction on
// the target; the checkpoint advances only after the batch has committed. Replaying a committed batch
// finds its rows already in the after-state and writes nothing (exactly-once effect).
import { RedressError } from '../../shared/errors';
import type { ApplyCounts } from '../../shared/protocol';
import { createHash } from 'node:crypto';
import { fromWire, type StoredValue, type WireValue } from '../../shared/values';
import type { Ledger, PlanRow, PlanRowRecord, RowOutcome, RunRow } from '../ledger/ledger';
import { schemaDrift } from '../targets/schemaDrift';
import type { CasOutcome, CasWrite, Scan, StoredRow, TableSchema, Target } from '../targets/target';
import { planContentHash } from './planHash';
import { rowTokenizer } from './prepare';
import type { RunControl, RunOutcome } from './runControl';
import { maxBatchSizeOf, Throttle, type ThrottleOptions } from './throttle';

export interface ApplyOptions {
  batchSize: number;
  /** A canary slice: the plan rows whose key hash falls in the first P percent... */
  canaryPercent?: number;
  /** ...or the first N plan rows in key-hash order (all of them when the plan has fewer). */
  canaryRows?: number;
  /** After the canary slice: verify it, then wait for a person (`--rest-of`) or continue by itself when clean. */
  afterCanary?: 'wait' | 'continue';
  /** The rest of a canary run's plan: every row not in its first `excludeCanaryPercent` percent... */
  excludeCanaryPercent?: number;
  /** ...or not among its first `excludeCanaryRows` rows. */
  excludeCanaryRows?: number;
  throttle?: ThrottleOptions;
}

/** Whether an apply run's options make it a canary slice (less than the whole plan, by percent or rows). */
export function isCanary(o: Pick<ApplyOptions, 'canaryPercent' | 'canaryRows'>): boolean {
  return o.canaryRows !== undefined || (o.canaryPercent !== undefined && o.canaryPercent < 100);
}

/**
 * The plan rows an apply run covers: its canary slice, or the rest after one, or every row. Both kinds of
 * canary follow one order, a hash of each row's key (canaryRank): P percent is every row whose rank starts
 * below P, N rows are the N lowest ranks. The plan's rows never change, so the slice is the same on resume,
 * for the rest, for rollback and verify.
 */
function sliceOf(ledger: Ledger, dryRunId: string, o: Pick<ApplyOptions, 'canaryPercent' | 'canaryRows' | 'excludeCanaryPercent' | 'excludeCanaryRows'>): (keyJson: string) => boolean {
  const within = (percent: number | undefined, rows: number | undefined): ((k: string) => boolean) | null => {
    if (rows !== undefined) {
      const cut = canaryCut(ledger, dryRunId, rows);
      return cut === null ? () => true : (k) => canaryRank(k) <= cut;
    }
    if (percent !== undefined && percent < 100) return (k) => inCanary(k, percent);
    return null;
  };
  const keep = within(o.canaryPercent, o.canaryRows);
  const drop = within(o.excludeCanaryPercent, o.excludeCanaryRows) ?? (o.excludeCanaryPercent !== undefined ? () => true : null);
  return (k) => (keep === null || keep(k)) && !(drop !== null && drop(k));
}

/** A row's place in canary order: the percent bucket inCanary uses, then the hash, then the key (no ties). */
export function canaryRank(keyJson: string): string {
  const h = createHash('sha256').update(keyJson).digest().readUInt32BE(0);
  return String(h % 10000).padStart(4, '0') + h.toString(16).padStart(8, '0') + keyJson;
}

const cuts = new Map<string, string | null>();

/** The rank of the N-th changed plan row in canary order; null when the plan has N rows or fewer (all of them). */
export function canaryCut(ledger: Ledger, dryRunId: string, n: number): string | null {
  const id = `${ledger.path}\0${dryRunId}\0${n}`;
  if (cuts.has(id)) return cuts.get(id)!;
  const ranks: string[] = [];
  for (let after = -1; ; ) {
    const rows = ledger.planRows(dryRunId, after, 10_000, 'changed');
    if (rows.length === 0) break;
    for (const r of rows) ranks.push(canaryRank(r.key));
    after = rows[rows.length - 1]!.seq;
  }
  const cut = ranks.length <= n ? null : ranks.sort()[n - 1]!;
  if (cuts.size > 100) cuts.clear();
  cuts.set(id, cut);
  return cut;
}

interface PlanContext {
  plan: PlanRow;
  schema: TableSchema;
  scan: Scan;
}

export function planContext(plan: PlanRow): PlanContext {
  const schema = JSON.parse(plan.tableSchema) as TableSchema;
  const manifest = JSON.parse(plan.manifest) as { id: string; target: { table: string; key: string[] } };
  return { plan, schema, scan: { table: manifest.target.table, key: manifest.target.key, correctionId: manifest.id } };
}

/** Refuses a plan whose rows were edited, or whose target is not the one it was made against. */
export async function checkPlanApplicable(ledger: Ledger, target: Target, pc: PlanContext): Promise<void> {
  const { plan, schema, scan } = pc;
  const { hash } = planContentHash(ledger, plan.dryRunId, { codeHash: plan.codeHash, manifest: plan.manifest, fingerprint: schema.fingerprint, target: plan.target });
  if (hash !== plan.contentHash) {
    throw new RedressError('PLAN_TAMPERED', `Plan ${plan.id} does not hash to its content hash any more: its rows were changed after it was made. Do not apply it; make a new plan with a dry-run.`);
  }
  if (plan.target !== target.description) {
    throw new RedressError('PLAN_STALE', `Plan ${plan.id} was made against ${plan.target}, but this daemon's target is ${target.description}. Make a new plan against this target.`);
  }
  const now = await target.tableSchema(scan.table);
  if (now.fingerprint !== schema.fingerprint) throw schemaDrift(schema, now);
}

/** Deterministic canary slice: a row is in the first P percent by a hash of its key. */
export function inCanary(keyJson: string, percent: number): boolean {
  if (percent >= 100) return true;
  const h = createHash('sha256').update(keyJson).digest().readUInt32BE(0);
  return (h % 10000) / 100 < percent;
}

/** A page of plan rows, and the last seq looked at (null when there is nothing after `afterSeq`). */
export interface Page {
  rows: PlanRowRecord[];
  scannedTo: number | null;
}

/** Plan rows after a seq, filtered, paged so that a page whose rows are all filtered out still advances. */
function filteredPages(ledger: Ledger, dryRunId: string, keep: (r: PlanRowRecord) => boolean, upTo = Infinity): (afterSeq: number, limit: number) => Page {
  return (after, limit) => {
    const raw = ledger.planRows(dryRunId, after, limit, 'changed').filter((r) => r.seq <= upTo);
    if (raw.length === 0) return { rows: [], scannedTo: null };
    return { rows: raw.filter(keep), scannedTo: raw[raw.length - 1]!.seq };
  };
}

function parseValues(json: string): Record<string, StoredValue> {
  const o = JSON.parse(json) as Record<string, WireValue>;
  const out: Record<string, StoredValue> = {};
  for (const k of Object.keys(o)) out[k] = fromWire(o[k]!);
  return out;
}

/** Shared loop of apply (before -> after) and rollback (after -> before). */
async function casLoop(
  ledger: Ledger,
  target: Target,
  run: RunRow,
  ctl: RunControl,
  pc: PlanContext,
  direction: 'apply' | 'rollback',
  pages: (afterSeq: number, limit: number) => Page,
  batchSize: number,
  throttle?: Throttle,
): Promise<RunOutcome> {
  const tokens = rowTokenizer(target, pc.schema);
  const hashRow = (row: StoredRow) => tokens([row])[0]!;
  const counts = run.counts;
  const apply: ApplyCounts = run.apply;
  let lastSeq = (run.cursor as number | null) ?? -1;
  let batches = run.batchesDone;
  for (;;) {
    const stop = ctl.stopRequested();
    if (stop) return stop;
    if (throttle && !(await throttle.beforeBatch(ctl))) continue;
    const { rows, scannedTo } = pages(lastSeq, throttle?.batchSize ?? batchSize);
    if (scannedTo === null) break;
    if (rows.length === 0) {
      lastSeq = scannedTo;
      continue;
    }
    const started = performance.now();
    const writes: CasWrite[] = rows.map((r) => ({
      key: (JSON.parse(r.key) as WireValue[]).map(fromWire),
      expectHash: direction === 'apply' ? r.before_hash! : r.after_hash!,
      doneHash: direction === 'apply' ? r.after_hash! : r.before_hash!,
      set: parseValues(direction === 'apply' ? r.after! : r.before!),
    }));
    const outcomes: CasOutcome[] = await target.casWrite(pc.scan, pc.schema, writes, hashRow);
    faultPoint('after-target-commit', batches + 1);
    const exceptions: RowOutcome[] = [];
    outcomes.forEach((o, i) => {
      counts.scanned++;
      if (o === 'written') {
        apply.applied++;
        counts.changed++;
      } else if (o === 'already') {
        apply.alreadyApplied++;
        counts.changed++;
        exceptions.push({ seq: rows[i]!.seq, outcome: o });
      } else {
        apply.drifted++;
        counts.quarantined++;
        exceptions.push({ seq: rows[i]!.seq, outcome: o });
      }
    });
    lastSeq = scannedTo;
    batches++;
    ledger.checkpoint(run.id, { batchesDone: batches, cursor: lastSeq, counts, apply, outcomes: exceptions });
    faultPoint('after-checkpoint', batches);
    await ctl.progress();
    if (throttle) await throttle.afterBatch(ctl, rows.length, performance.now() - started);
  }
  const verb = direction === 'apply' ? 'applied' : 'restored';
  return {
    status: 'completed',
    message: `${apply.applied} row(s) ${verb}, ${apply.alreadyApplied} already so, ${apply.drifted} quarantined as drifted`,
  };
}

export async function runApply(ledger: Ledger, target: Target, run: RunRow, ctl: RunControl): Promise<RunOutcome> {
  const o = run.options as unknown as ApplyOptions;
  const pc = planContext(ledger.requirePlan(run.planId!));
  if (run.batchesDone === 0) await checkPlanApplicable(ledger, target, pc);
  const throttle = new Throttle(o.throttle ?? {}, o.batchSize, target.healthCheck?.bind(target));
  const inSlice = sliceOf(ledger, pc.plan.dryRunId, o);
  const out = await casLoop(ledger, target, run, ctl, pc, 'apply', filteredPages(ledger, pc.plan.dryRunId, (r) => inSlice(r.key)), o.batchSize, throttle);
  if (out.status !== 'completed' || !o.afterCanary || !isCanary(o)) return out;
  // The canary slice is in: re-read every row it wrote; anything but the planned after-state halts here.
  const check = await verifyApplied(ledger, target, ledger.requireRun(run.id), pc);
  if (check.differing.length) {
    throw new RedressError(
      'CANARY_FAILED',
      `Canary verification: ${check.differing.length} of ${check.checked} row(s) the canary wrote do not hold the planned after-state (first: ${JSON.stringify(check.differing.slice(0, 5))}). The rest of the plan was not applied. Look at those rows; roll the canary back with \`redress rollback ${run.id}\`.`,
      { checked: check.checked, differing: check.differing.slice(0, 20) },
    );
  }
  const next = o.afterCanary === 'continue' ? 'continuing with the rest' : `apply the rest with \`redress apply ${pc.plan.id} --rest-of ${run.id}\``;
  return { status: 'completed', message: `${out.message}; canary verified: ${check.checked} row(s) hold the planned after-state; ${next}`, data: { canaryVerified: check.checked } };
}

/** Re-reads the rows an apply run wrote: how many were checked, and the keys of those not in the after-state. */
async function verifyApplied(ledger: Ledger, target: Target, applyRun: RunRow, pc: PlanContext): Promise<{ checked: number; differing: unknown[] }> {
  const tokens = rowTokenizer(target, pc.schema);
  const rowsOf = appliedRows(ledger, applyRun);
  const differing: unknown[] = [];
  let checked = 0;
  for (let after = -1; ; ) {
    const { rows, scannedTo } = rowsOf(after, 1000);
    if (scannedTo === null) break;
    after = scannedTo;
    if (rows.length === 0) continue;
    const current = await target.readKeys(pc.scan, pc.schema, rows.map((r) => (JSON.parse(r.key) as WireValue[]).map(fromWire)));
    const found = current.filter((c): c is StoredRow => c !== undefined);
    const foundTokens = tokens(found);
    const tokenOf = new Map(found.map((c, j) => [c, foundTokens[j]!]));
    rows.forEach((r, i) => {
      checked++;
      const row = current[i];
      if (!row || tokenOf.get(row) !== r.after_hash) differing.push(JSON.parse(r.key));
    });
  }
  return { checked, differing };
}

export async function runRollback(ledger: Ledger, target: Target, run: RunRow, ctl: RunControl): Promise<RunOutcome> {
  const parent = ledger.requireRun(run.parentRunId!);
  const pc = planContext(ledger.requirePlan(parent.planId!));
  const now = await target.tableSchema(pc.scan.table);
  if (now.fingerprint !== pc.schema.fingerprint) throw schemaDrift(pc.schema, now);
  const applied = appliedRows(ledger, parent, { withUncheckpointedBatch: true });
  // Throttled as its apply was (the engine copies the apply's throttle options), and tunable (`redress tune`).
  const o = run.options as { batchSize: number; throttle?: ThrottleOptions };
  const throttle = new Throttle(o.throttle ?? {}, o.batchSize, target.healthCheck?.bind(target));
  return casLoop(ledger, target, run, ctl, pc, 'rollback', applied, o.batchSize, throttle);
}

/**
 * Plan rows an apply run wrote (or found already written): its checkpointed range minus exceptions.
 * `withUncheckpointedBatch` adds the batch after the checkpoint when the run was cut off after it
 * (kill -9 between the target commit and the ledger checkpoint): that batch may be on the target.
 */
export function appliedRows(ledger: Ledger, applyRun: RunRow, o: { withUncheckpointedBatch?: boolean } = {}): (afterSeq: number, limit: number) => Page {
  const pc = planContext(ledger.requirePlan(applyRun.planId!));
  const skip = ledger.outcomes(applyRun.id);
  const slice = applyRun.options as unknown as ApplyOptions;
  const inSlice = sliceOf(ledger, pc.plan.dryRunId, slice);
  const keep = (r: PlanRowRecord) => {
    const o = skip.get(r.seq);
    return o !== 'drifted' && o !== 'missing' && inSlice(r.key);
  };
  let upTo = (applyRun.cursor as number | null) ?? -1;
  if (o.withUncheckpointedBatch && cutOffAfterCheckpoint(ledger, applyRun.id)) {
    const batchSize = maxBatchSizeOf(slice.batchSize, slice.throttle);
    upTo = nextBatchEnd(filteredPages(ledger, pc.plan.dryRunId, (r) => inSlice(r.key)), upTo, batchSize);
  }
  return filteredPages(ledger, pc.plan.dryRunId, keep, upTo);
}

/** Whether a run stopped after its last checkpoint other than at a batch boundary: killed, or failed. */
function cutOffAfterCheckpoint(ledger: Ledger, runId: string): boolean {
  const last = ledger.db
    .prepare(`SELECT kind FROM events WHERE run_id = ? AND kind IN ('progress', 'resumed', 'interrupted', 'failed') ORDER BY seq DESC LIMIT 1`)
    .get(runId) as { kind: string } | undefined;
  return last?.kind === 'interrupted' || last?.kind === 'failed';
}

/** The last seq of the batch the apply loop writes after `cursor` (it pages the same way); `cursor` if none. */
function nextBatchEnd(pages: (afterSeq: number, limit: number) => Page, cursor: number, batchSize: number): number {
  for (let after = cursor; ; ) {
    const { rows, scannedTo } = pages(after, batchSize);
    if (scannedTo === null) return cursor;
    if (rows.length > 0) return scannedTo;
    after = scannedTo;
  }
}

/** Re-reads the rows a run wrote and compares them with the state it meant to leave. */
export async function runVerify(ledger: Ledger, target: Target, run: RunRow, ctl: RunControl): Promise<RunOutcome> {
  const subject = ledger.requireRun(run.parentRunId!);
  const applyRun = subject.kind === 'rollback' ? ledger.requireRun(subject.parentRunId!) : subject;
  const pc = planContext(ledger.requirePlan(applyRun.planId!));
  const tokens = rowTokenizer(target, pc.schema);
  const rowsOf = appliedRows(ledger, applyRun, { withUncheckpointedBatch: subject.kind === 'rollback' });
  const rolledBackSkip = subject.kind === 'rollback' ? ledger.outcomes(subject.id) : new Map<number, string>();
  const rollbackUpTo = subject.kind === 'rollback' ? ((subject.cursor as number | null) ?? -1) : Infinity;
  const counts = run.counts;
  const apply = run.apply;
  const differing: unknown[] = [];
  let lastSeq = (run.cursor as number | null) ?? -1;
  let batches = run.batchesDone;
  for (;;) {
    const stop = ctl.stopRequested(false);
    if (stop) return stop;
    const { rows, scannedTo } = rowsOf(lastSeq, 1000);
    if (scannedTo === null) break;
    lastSeq = scannedTo;
    if (rows.length === 0) continue;
    const keys = rows.map((r) => (JSON.parse(r.key) as WireValue[]).map(fromWire));
    const current = await target.readKeys(pc.scan, pc.schema, keys);
    const found = current.filter((c): c is StoredRow => c !== undefined);
    const foundTokens = tokens(found);
    const tokenOf = new Map(found.map((c, j) => [c, foundTokens[j]!]));
    rows.forEach((r, i) => {
      const restored = subject.kind === 'rollback' && r.seq <= rollbackUpTo && !['drifted', 'missing'].includes(rolledBackSkip.get(r.seq) ?? '');
      if (subject.kind === 'rollback' && !restored) return;
      const want = restored ? r.before_hash : r.after_hash;
      const row: StoredRow | undefined = current[i];
      counts.scanned++;
      if (row && tokenOf.get(row) === want) {
        counts.unchanged++;
        apply.applied++;
      } else {
        counts.quarantined++;
        apply.drifted++;
        if (differing.length < 20) differing.push(JSON.parse(r.key));
      }
    });
    batches++;
    ledger.checkpoint(run.id, { batchesDone: batches, cursor: lastSeq, counts, apply });
    await ctl.progress();
  }
  const state = subject.kind === 'rollback' ? 'before-state (rolled back)' : 'planned after-state';
  return {
    status: 'completed',
    message: `${counts.scanned} row(s) checked: ${apply.applied} in the ${state}, ${apply.drifted} differ`,
    data: { checked: counts.scanned, matching: apply.applied, differing: apply.drifted, firstDiffering: differing },
  };
}

/** Test-only fault injection (REDRESS_FAULT=point:batch): kill -9 ourselves at a precise moment. */
function faultPoint(point: string, batch: number): void {
  const f = process.env.REDRESS_FAULT;
  if (f && f === `${point}:${batch}`) process.kill(process.pid, 'SIGKILL');
}
