// Apply and rollback: the plan's rows, batch by batch, each batch one compare-and-set transaction on
// the target; the checkpoint advances only after the batch has committed. Replaying a committed batch
// finds its rows already in the after-state and writes nothing (exactly-once effect).
import { RedressError } from '../../shared/errors';
import type { ApplyCounts } from '../../shared/protocol';
import { createHash } from 'node:crypto';
import { fromWire, type StoredValue, type WireValue } from '../../shared/values';
import { lanesOf, type Ledger, type PlanRow, type PlanRowRecord, type RunRow } from '../ledger/ledger';
import { schemaDrift } from '../targets/schemaDrift';
import type { CasWrite, NativeBatchResult, NativePlanRef, Scan, StoredRow, TableSchema, Target } from '../targets/target';
import { checkSealed, nativePlanPath, type Slice, type SliceCond } from './nativePlan';
import { checkedPlanRows, describeEdit, type PageEdit, planContentHash, planIdOf, type PlanRowReader, rowsHashOf } from './planHash';
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
  /**
   * Batches written at once, each its own transaction on its own connection (targets with
   * `maxConcurrentWrites`; SQLite writes one at a time). Checkpoints still advance in plan order.
   */
  concurrency?: number;
}

/** Whether an apply run's options make it a canary slice (less than the whole plan, by percent or rows). */
export function isCanary(o: Pick<ApplyOptions, 'canaryPercent' | 'canaryRows'>): boolean {
  return o.canaryRows !== undefined || (o.canaryPercent !== undefined && o.canaryPercent < 100);
}

/**
 * The plan rows an apply run covers: its canary slice, or the rest after one, or every row. Both kinds of
 * canary follow one order, a hash of each row's key (canaryPlace): P percent is every row whose bucket is
 * below P, N rows are the N lowest ranks. The plan's rows never change, so the slice is the same on
 * resume, for the rest, for rollback and verify; as data, so SQL (native plans) and JavaScript test it alike.
 */
function sliceOf(ledger: Ledger, dryRunId: string, o: Pick<ApplyOptions, 'canaryPercent' | 'canaryRows' | 'excludeCanaryPercent' | 'excludeCanaryRows'>): Slice {
  const within = (percent: number | undefined, rows: number | undefined): SliceCond | null => {
    if (rows !== undefined) {
      const cut = canaryCut(ledger, dryRunId, rows);
      return cut === null ? { kind: 'all' } : { kind: 'rank', max: cut };
    }
    if (percent !== undefined && percent < 100) return { kind: 'percent', percent };
    return null;
  };
  const keep = within(o.canaryPercent, o.canaryRows);
  const drop = within(o.excludeCanaryPercent, o.excludeCanaryRows) ?? (o.excludeCanaryPercent !== undefined ? { kind: 'all' as const } : null);
  return { keep, drop };
}

/** The slice as a test of one plan row (the JavaScript path; sliceSql is the same test in SQL). */
export function inSlice(s: Slice): (r: Pick<PlanRowRecord, 'seq' | 'key'>) => boolean {
  const test = (c: SliceCond, k: string) => c.kind === 'all' || (c.kind === 'percent' ? inCanary(k, c.percent) : canaryRank(k) <= c.max);
  return (r) => (s.keep === null || test(s.keep, r.key)) && !(s.drop !== null && test(s.drop, r.key)) && (s.upTo === undefined || r.seq <= s.upTo);
}

/**
 * A row's place in canary order: its bucket (0-9999) from a hash of its key, and its rank (the bucket,
 * the hash, then the key's bytes in hex: no ties, and the same order for JavaScript and SQL strings).
 */
export function canaryPlace(keyJson: string): { bucket: number; rank: string } {
  const h = createHash('sha256').update(keyJson).digest().readUInt32BE(0);
  const bucket = h % 10000;
  return { bucket, rank: String(bucket).padStart(4, '0') + h.toString(16).padStart(8, '0') + Buffer.from(keyJson).toString('hex') };
}

export const canaryRank = (keyJson: string): string => canaryPlace(keyJson).rank;

/** Deterministic canary slice: a row is in the first P percent by a hash of its key. */
export function inCanary(keyJson: string, percent: number): boolean {
  return percent >= 100 || canaryPlace(keyJson).bucket / 100 < percent;
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

/** What to do about a plan that no longer holds what was reviewed: a new plan for an apply; for a rollback, the same before-images back. */
function tamperedAdvice(plan: PlanRow, run: 'apply' | 'rollback'): string {
  if (run === 'apply') return 'Do not apply it as it is: run `redress ledger verify` and find out who changed it; then put the plan back from a backup of .redress/ and resume this run, or make a new plan with a dry-run.';
  const from = plan.nativeFileHash ? `the plan file from a backup (its sha-256 is ${plan.nativeFileHash})` : 'the edited plan rows from a backup of .redress/ledger.sqlite';
  return `Its before-images are what this rollback restores, and a new dry-run cannot make them again: put back ${from}, then resume this rollback.`;
}

const tampered = (plan: PlanRow, what: string, run: 'apply' | 'rollback' = 'apply') =>
  new RedressError('PLAN_TAMPERED', `Plan ${plan.id} is not the plan that was made: ${what}. Nothing was written. ${tamperedAdvice(plan, run)}`);

/** A page found changed in the middle of a run: the batches before it were checked and wrote reviewed rows. */
function tamperedPage(ledger: Ledger, plan: PlanRow, runId: string, what: string, run: 'apply' | 'rollback'): RedressError {
  const written = ledger.requireRun(runId).apply.applied;
  const before = written > 0 ? ` The ${written} row(s) it ${run === 'apply' ? 'wrote' : 'restored'} before came from pages that checked clean.` : ' It wrote nothing.';
  const next =
    run === 'rollback'
      ? ` ${tamperedAdvice(plan, run)}`
      : ' Run `redress ledger verify` and find out who changed it. Then put the rows back from a backup of .redress/ledger.sqlite and resume this run, or make a new plan with a dry-run' +
        (written > 0 ? `: it plans the rows still to change, keeping what this run wrote; to undo that first, \`redress rollback ${runId}\` before the dry-run.` : '.');
  return new RedressError('PLAN_TAMPERED', `Plan ${plan.id} is not the plan that was made: ${what}. Run ${runId} stopped before writing any of those rows.${before}${next}`);
}

/**
 * A page check's finding, thrown from the batch read-ahead. The run turns it into its PLAN_TAMPERED message
 * once the batches still being written have finished, so the message counts what the run wrote.
 */
class PageEdited extends Error {
  constructor(readonly edit: PageEdit) {
    super(describeEdit(edit));
  }
}

/** Where a run writes from, checked: the sealed native plan file, or the plan's rows in the ledger, page by page. */
type PlanSource = { native: NativePlanRef; read?: undefined } | { native: null; read: PlanRowReader | undefined };

/**
 * Refuses a plan whose rows were edited, or whose target is not the one it was made against. Checks the
 * part of the plan the run writes from (planSource) on every start and resume.
 */
export async function checkPlanApplicable(ledger: Ledger, target: Target, run: RunRow, pc: PlanContext): Promise<PlanSource> {
  const { plan, schema, scan } = pc;
  if (plan.rowsHash === null || plan.rowsPages === null) {
    throw new RedressError('PLAN_STALE', `Plan ${plan.id} was made by an earlier version of Redress, which did not record what apply checks. Make a new plan with a dry-run.`);
  }
  const source = planSource(ledger, target, run, plan, 'apply');
  const header = { codeHash: plan.codeHash, manifest: plan.manifest, fingerprint: schema.fingerprint, target: plan.target };
  if (planContentHash(header, plan.rowsHash, plan.nativeFileHash) !== plan.contentHash || planIdOf(plan.contentHash) !== plan.id) {
    throw tampered(plan, 'its record in the ledger was changed');
  }
  if (plan.target !== target.description) {
    throw new RedressError('PLAN_STALE', `Plan ${plan.id} was made against ${plan.target}, but this daemon's target is ${target.description}. Make a new plan against this target.`);
  }
  const now = await target.tableSchema(scan.table);
  if (now.fingerprint !== schema.fingerprint) throw schemaDrift(schema, now);
  return source;
}

/**
 * The part of a plan a run writes from. The sealed native file, checked against its hash, when the target
 * applies natively. Else the plan's rows in the ledger: their page list is checked against the rows hash
 * now, and each page's text against its hash just before a batch writes from it (no pass over the whole
 * plan before the first write). A rollback of a plan made before page hashes has nothing to check against.
 */
function planSource(ledger: Ledger, target: Target, run: RunRow, plan: PlanRow, direction: 'apply' | 'rollback'): PlanSource {
  if (plan.nativeFileHash !== null && target.nativeBatch) {
    const path = nativePlanPath(ledger.path, plan.nativeFileHash);
    const problem = checkSealed(path, plan.nativeFileHash);
    if (problem) throw tampered(plan, problem, direction);
    return { native: { path, id: plan.id } };
  }
  if (plan.rowsPages === null) return { native: null, read: undefined };
  const pages = ledger.planPages(plan.dryRunId);
  if (rowsHashOf(pages) !== plan.rowsHash) throw tampered(plan, 'its page hashes in the ledger were changed after it was made', direction);
  // An apply of a plan a run has already found edited checks it whole before writing anything: the edit
  // may still be there, and the apply would otherwise write the pages before it again only to halt there.
  // (A rollback goes page by page: what it restores before an edited page is worth restoring.)
  const rows = checkedPlanRows(ledger, plan.dryRunId, pages, (edit) => new PageEdited(edit));
  if (direction === 'apply' && ledger.planFoundTampered(plan.id)) {
    try {
      rows.checkAll();
    } catch (e) {
      throw e instanceof PageEdited ? tampered(plan, describeEdit(e.edit), direction) : e;
    }
  }
  return { native: null, read: rows.read };
}

/** A page of plan rows, and the last seq looked at (null when there is nothing after `afterSeq`). */
export interface Page {
  rows: PlanRowRecord[];
  scannedTo: number | null;
}

/**
 * The changed plan rows in a slice, `limit` at a time: the same batches as the native path (the next
 * `limit` rows of the slice after a seq), so either can tell where a cut-off batch ended. `read` reads
 * them (checked page by page, for a run); by default they come from the ledger as they are.
 */
function slicePages(ledger: Ledger, dryRunId: string, slice: Slice, skip?: Set<number>, read?: PlanRowReader): (afterSeq: number, limit: number) => Page {
  const keep = inSlice(slice);
  const readRows: PlanRowReader = read ?? ((after, limit) => ledger.planRows(dryRunId, after, limit, 'changed'));
  return (after, limit) => {
    const rows: PlanRowRecord[] = [];
    let scannedTo: number | null = null;
    for (;;) {
      const raw = readRows(after, limit, slice.upTo);
      if (raw.length === 0) return { rows, scannedTo };
      for (const r of raw) {
        if (slice.upTo !== undefined && r.seq > slice.upTo) return { rows, scannedTo };
        scannedTo = r.seq;
        if (keep(r) && !skip?.has(r.seq) && rows.push(r) === limit) return { rows, scannedTo };
      }
      after = raw[raw.length - 1]!.seq;
    }
  };
}

function parseValues(json: string): Record<string, StoredValue> {
  const o = JSON.parse(json) as Record<string, WireValue>;
  const out: Record<string, StoredValue> = {};
  for (const k of Object.keys(o)) out[k] = fromWire(o[k]!);
  return out;
}

/**
 * A batch under way: its plan rows are chosen (its last seq, null when nothing is left, and its row
 * count), its write may still be going on; `written` settles with the rows not written now.
 */
interface StartedBatch {
  scannedTo: number | null;
  rows: number;
  written: Promise<NativeBatchResult['exceptions']>;
}

/** Starts the batch of the next `limit` rows after a seq. */
type StartBatch = (afterSeq: number, limit: number) => Promise<StartedBatch>;

/**
 * Batches through JavaScript: plan rows from the ledger, written with the target's casWrite. While the
 * target works on one batch, the next is read and decoded (plan rows never change): the daemon's share
 * of a batch overlaps the server's instead of adding to it.
 */
function jsonBatches(target: Target, pc: PlanContext, direction: 'apply' | 'rollback', pages: (afterSeq: number, limit: number) => Page): StartBatch {
  if (!target.casWrite) throw new RedressError('PLAN_STALE', `${target.description} applies plans from their native file, and plan ${pc.plan.id} has none. Make a new plan with a dry-run.`);
  const casWrite = target.casWrite.bind(target);
  const tokens = rowTokenizer(target, pc.schema);
  const hashRow = (row: StoredRow) => tokens([row])[0]!;
  type Prepared = { after: number; limit: number; page: Page; writes: CasWrite[] };
  const prepare = (after: number, limit: number): Prepared => {
    const page = pages(after, limit);
    const writes = page.rows.map((r) => ({
      key: (JSON.parse(r.key) as WireValue[]).map(fromWire),
      expectHash: direction === 'apply' ? r.before_hash! : r.after_hash!,
      doneHash: direction === 'apply' ? r.after_hash! : r.before_hash!,
      set: parseValues(direction === 'apply' ? r.after! : r.before!),
    }));
    return { after, limit, page, writes };
  };
  let ahead: Promise<Prepared> | null = null;
  return async (after, limit) => {
    const next = ahead ? await ahead.catch(() => null) : null;
    ahead = null;
    const cur = next && next.after === after && next.limit === limit ? next : prepare(after, limit);
    const { rows, scannedTo } = cur.page;
    if (rows.length === 0) return { scannedTo: null, rows: 0, written: Promise.resolve([]) };
    const written = casWrite(pc.scan, pc.schema, cur.writes, hashRow).then((outcomes) => {
      const exceptions: NativeBatchResult['exceptions'] = [];
      outcomes.forEach((o, i) => {
        if (o !== 'written') exceptions.push({ seq: rows[i]!.seq, outcome: o });
      });
      return exceptions;
    });
    written.catch(() => {}); // the run awaits it; a batch it no longer waits for must not go unhandled
    // setImmediate: after the batch's first statement has gone out, not before it.
    ahead = new Promise((resolve, reject) =>
      setImmediate(() => {
        try {
          resolve(prepare(scannedTo!, limit));
        } catch (e) {
          reject(e);
        }
      }),
    );
    ahead.catch(() => {}); // a failed read ahead is read again when its batch comes, and fails there
    return { scannedTo, rows: rows.length, written };
  };
}

/** Batches in SQL: the target runs each against the attached native plan file, one at a time. */
function nativeBatches(target: Target, ref: NativePlanRef, pc: PlanContext, direction: 'apply' | 'rollback', slice: Slice, skip?: Set<number>): StartBatch {
  const skipList = skip ? [...skip] : undefined;
  return async (afterSeq, limit) => {
    const r = await target.nativeBatch!(ref, pc.scan, pc.schema, { direction, afterSeq, limit, slice, ...(skipList ? { skip: skipList } : {}) });
    return { scannedTo: r.scannedTo, rows: r.rows, written: Promise.resolve(r.exceptions) };
  };
}

/**
 * Shared loop of apply (before -> after) and rollback (after -> before). Up to `lanes` batches are written
 * at once; each is checkpointed, in plan order, only once it and every batch before it have committed. A
 * run cut off may so have up to `lanes` committed batches past its checkpoint (appliedRange counts them),
 * which a resume replays as rows already written. A run that stops (pause, cancel, error) first waits for
 * the batches being written: checkpointed when every batch before them committed, else left to the replay.
 */
async function casLoop(ledger: Ledger, run: RunRow, ctl: RunControl, direction: 'apply' | 'rollback', start: StartBatch, o: { batchSize: number; lanes: number; throttle?: Throttle }): Promise<RunOutcome> {
  const { throttle } = o;
  const counts = run.counts;
  const apply: ApplyCounts = run.apply;
  let lastSeq = (run.cursor as number | null) ?? -1;
  let batches = run.batchesDone;
  const inFlight: { batch: StartedBatch & { scannedTo: number }; started: number }[] = [];
  const checkpointOldest = async (): Promise<void> => {
    const { batch, started } = inFlight[0]!;
    const exceptions = await batch.written;
    faultPoint('after-target-commit', batches + 1);
    counts.scanned += batch.rows;
    apply.applied += batch.rows - exceptions.length;
    counts.changed += batch.rows - exceptions.length;
    for (const e of exceptions) {
      if (e.outcome === 'already') {
        apply.alreadyApplied++;
        counts.changed++;
      } else {
        apply.drifted++;
        counts.quarantined++;
      }
    }
    lastSeq = batch.scannedTo;
    batches++;
    ledger.checkpoint(run.id, { batchesDone: batches, cursor: lastSeq, counts, apply, outcomes: exceptions });
    inFlight.shift();
    faultPoint('after-checkpoint', batches);
    await ctl.progress();
    if (throttle) await throttle.afterBatch(ctl, batch.rows, performance.now() - started);
  };
  const drain = async () => {
    while (inFlight.length) await checkpointOldest();
  };
  try {
    for (let next = lastSeq; ; ) {
      const stop = ctl.stopRequested();
      if (stop) {
        await drain();
        return stop;
      }
      let batch: StartedBatch;
      const started = performance.now();
      try {
        if (throttle && !(await throttle.beforeBatch(ctl))) continue;
        batch = await start(next, throttle?.batchSize ?? o.batchSize);
      } catch (e) {
        // Waiting or reading the next batch failed (its page found edited, say): the batches under way
        // all come before it, and are checkpointed first.
        await drain();
        throw e;
      }
      if (batch.scannedTo === null) break;
      inFlight.push({ batch: batch as StartedBatch & { scannedTo: number }, started });
      next = batch.scannedTo;
      // A pause between batches (--pause-ms, `redress tune`) is a pause in writing: one batch at a time.
      while (inFlight.length >= (throttle?.pausing ? 1 : o.lanes)) await checkpointOldest();
    }
    await drain();
  } catch (e) {
    // A batch's write (or its checkpoint) failed. It and the batches after it are not checkpointed; their
    // writes end (commit or not) before the run does. A halting error says when some committed, so a
    // rollback covers them (cutOffAfterCheckpoint); a resume replays them.
    const settled = await Promise.allSettled(inFlight.map((f) => f.batch.written));
    const committed = settled.filter((r) => r.status === 'fulfilled').length;
    if (committed > 0 && e instanceof RedressError) throw new RedressError(e.code, e.message, { ...e.data, committedPastCheckpoint: committed });
    throw e;
  }
  const verb = direction === 'apply' ? 'applied' : 'restored';
  return {
    status: 'completed',
    message: `${apply.applied} row(s) ${verb}, ${apply.alreadyApplied} already so, ${apply.drifted} quarantined as drifted`,
  };
}

/** Runs a write loop over a native plan or the ledger's rows, and lets go of the native file after. */
async function writeLoop(
  ledger: Ledger,
  target: Target,
  run: RunRow,
  ctl: RunControl,
  pc: PlanContext,
  source: PlanSource,
  direction: 'apply' | 'rollback',
  range: { slice: Slice; skip?: Set<number> },
  o: { batchSize: number; throttle?: ThrottleOptions; concurrency?: number },
): Promise<RunOutcome> {
  const throttle = new Throttle(o.throttle ?? {}, o.batchSize, target.healthCheck?.bind(target));
  const { native, read } = source;
  const start = native ? nativeBatches(target, native, pc, direction, range.slice, range.skip) : jsonBatches(target, pc, direction, slicePages(ledger, pc.plan.dryRunId, range.slice, range.skip, read));
  try {
    return await casLoop(ledger, run, ctl, direction, start, { batchSize: o.batchSize, lanes: native ? 1 : lanesOf(o), throttle });
  } catch (e) {
    // A page found edited: the batches before it have been checkpointed, so the message counts them.
    throw e instanceof PageEdited ? tamperedPage(ledger, pc.plan, run.id, describeEdit(e.edit), direction) : e;
  } finally {
    if (native) await target.releaseNative?.(native);
  }
}

export async function runApply(ledger: Ledger, target: Target, run: RunRow, ctl: RunControl): Promise<RunOutcome> {
  const o = run.options as unknown as ApplyOptions;
  const pc = planContext(ledger.requirePlan(run.planId!));
  // Checked on every start and resume: a plan edited while a run was paused or cut off is refused too.
  const source = await checkPlanApplicable(ledger, target, run, pc);
  const out = await writeLoop(ledger, target, run, ctl, pc, source, 'apply', { slice: sliceOf(ledger, pc.plan.dryRunId, o) }, o);
  if (out.status !== 'completed' || !isCanary(o)) return out;
  // The canary slice is in: re-read every row it wrote; anything but the planned after-state halts here.
  const check = await verifyApplied(ledger, target, ledger.requireRun(run.id), pc);
  if (check.differing.length) {
    throw new RedressError(
      'CANARY_FAILED',
      `Canary verification: ${check.differing.length} of ${check.checked} row(s) the canary wrote do not hold the planned after-state (first: ${JSON.stringify(check.differing.slice(0, 5))}). The rest of the plan was not applied. Look at those rows; roll the canary back with \`redress rollback ${run.id}\`.`,
      { checked: check.checked, differing: check.differing.slice(0, 20) },
    );
  }
  // Without afterCanary a canary waits for a person too: it never runs on by itself unless asked to.
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
  // The before-images come from the plan: check the part this target writes from first.
  const source = planSource(ledger, target, run, pc.plan, 'rollback');
  // Throttled as its apply was (the engine copies the apply's throttle options), and tunable (`redress tune`).
  const o = run.options as { batchSize: number; throttle?: ThrottleOptions; concurrency?: number };
  return writeLoop(ledger, target, run, ctl, pc, source, 'rollback', appliedRange(ledger, parent, { withUncheckpointedBatch: true }), o);
}

/**
 * The plan rows an apply run wrote (or found already written): its slice up to its checkpoint, minus the
 * rows it found drifted or missing. `withUncheckpointedBatch` adds the batches after the checkpoint when
 * the run was cut off after it (kill -9 between the target commit and the ledger checkpoint): up to as
 * many as it wrote at once may be on the target.
 */
function appliedRange(ledger: Ledger, applyRun: RunRow, o: { withUncheckpointedBatch?: boolean } = {}): { slice: Slice; skip: Set<number> } {
  const plan = ledger.requirePlan(applyRun.planId!);
  const opts = applyRun.options as unknown as ApplyOptions;
  const slice = sliceOf(ledger, plan.dryRunId, opts);
  const skip = new Set<number>();
  for (const [seq, outcome] of ledger.outcomes(applyRun.id)) if (outcome === 'drifted' || outcome === 'missing') skip.add(seq);
  let upTo = (applyRun.cursor as number | null) ?? -1;
  if (o.withUncheckpointedBatch && cutOffAfterCheckpoint(ledger, applyRun.id)) {
    upTo = slicePages(ledger, plan.dryRunId, slice)(upTo, maxBatchSizeOf(opts.batchSize, opts.throttle) * lanesOf(opts)).scannedTo ?? upTo;
  }
  return { slice: { ...slice, upTo }, skip };
}

/** Plan rows an apply run wrote (see appliedRange), a page at a time. */
export function appliedRows(ledger: Ledger, applyRun: RunRow, o: { withUncheckpointedBatch?: boolean } = {}): (afterSeq: number, limit: number) => Page {
  const { slice, skip } = appliedRange(ledger, applyRun, o);
  return slicePages(ledger, ledger.requirePlan(applyRun.planId!).dryRunId, slice, skip);
}

/**
 * Whether a run stopped after its last checkpoint other than at a batch boundary: killed, failed, or
 * halted while a batch written at the same time as the failing one committed.
 */
function cutOffAfterCheckpoint(ledger: Ledger, runId: string): boolean {
  const last = ledger.db
    .prepare(`SELECT kind, json_extract(data, '$.error.committedPastCheckpoint') AS past FROM events WHERE run_id = ? AND kind IN ('progress', 'resumed', 'interrupted', 'failed', 'halted') ORDER BY seq DESC LIMIT 1`)
    .get(runId) as { kind: string; past: number | null } | undefined;
  return last?.kind === 'interrupted' || last?.kind === 'failed' || (last?.kind === 'halted' && (last.past ?? 0) > 0);
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
