// Dry-run: every selected row through the transform in checkpointed batches, no writes to the target.
// The planned changes are stored in the ledger as the run goes; the finished run yields a plan.
import { RedressError } from '../../shared/errors';
import { fromWire, toWire, type WireValue } from '../../shared/values';
import type { Ledger, PlanRowRecord, RunRow } from '../ledger/ledger';
import type { Target } from '../targets/target';
import { schemaDrift } from '../targets/schemaDrift';
import { addToSummary, evaluateBatch } from './evaluate';
import { canaryPlace } from './apply';
import { NativePlanWriter, type NativeRow } from './nativePlan';
import { planContentHash, planIdOf, planPageHashes, rowsHashOf } from './planHash';
import { prepare, rowTokenizer } from './prepare';
import type { RunControl, RunOutcome } from './runControl';

/** Every 8th row is evaluated twice, in another order, to catch non-deterministic transforms. */
const RECHECK_EVERY = 8;

export interface DryRunOptions {
  batchSize: number;
  seed: number;
  now: number;
  params: Record<string, string>;
  codeHash: string;
  fingerprint: string;
  quarantineThreshold: number;
}

export async function runDryRun(ledger: Ledger, target: Target, run: RunRow, ctl: RunControl): Promise<RunOutcome> {
  const o = run.options as unknown as DryRunOptions;
  const p = await prepare(run.correctionPath, target, { seed: o.seed, now: o.now, params: o.params }, o.codeHash);
  let native: NativePlanWriter | null = null;
  try {
    if (p.schema.fingerprint !== o.fingerprint) throw new RedressError('SCHEMA_DRIFT', `The schema of "${p.scan.table}" changed since this dry-run started. Start a new dry-run.`);
    const tokens = rowTokenizer(target, p.schema);
    const counts = run.counts;
    let cursor = run.cursor ? (run.cursor as WireValue[]).map(fromWire) : null;
    let batches = run.batchesDone;
    // Targets that apply natively get the plan's native part too, written before each checkpoint.
    if (target.nativeBatch) {
      native = new NativePlanWriter(ledger.path, run.id, p.scan.key.length, p.schema.columns.length);
      native.truncateFrom(counts.scanned);
    }
    const columnIndex = new Map(p.schema.columns.map((c, i) => [c.name, i]));
    for (;;) {
      const stop = ctl.stopRequested(false);
      if (stop) return stop;
      const now = await target.tableSchema(p.scan.table);
      if (now.fingerprint !== p.schema.fingerprint) throw schemaDrift(p.schema, now);
      const rows = await target.readRange(p.scan, p.schema, cursor, o.batchSize);
      if (rows.length === 0) break;
      const base = counts.scanned;
      const evs = await evaluateBatch(p, target, tokens, rows, (i) => (base + i) % RECHECK_EVERY === 0);
      addToSummary(counts, evs);
      const planRows: PlanRowRecord[] = [];
      const nativeRows: NativeRow[] = [];
      evs.forEach((e, i) => {
        if (e.status === 'unchanged') return;
        const changed = e.status === 'changed';
        const key = JSON.stringify(e.key.map(toWire));
        if (changed && native) {
          const before = p.schema.columns.map((c) => rows[i]![c.name] ?? null);
          const after = [...before];
          const cols = Object.keys(e.changes).map((c) => columnIndex.get(c)!).sort((a, b) => a - b);
          for (const c of Object.keys(e.changes)) after[columnIndex.get(c)!] = e.changes[c]!.after;
          const place = canaryPlace(key);
          nativeRows.push({ seq: base + i, changed: cols, key: e.key, before, after, canaryBucket: place.bucket, canaryRank: place.rank });
        }
        planRows.push({
          seq: base + i,
          status: e.status,
          key,
          before_hash: e.beforeHash ?? null,
          after_hash: e.afterHash ?? null,
          before: changed ? JSON.stringify(Object.fromEntries(Object.entries(e.changes).map(([c, v]) => [c, toWire(v.before)]))) : null,
          after: changed ? JSON.stringify(Object.fromEntries(Object.entries(e.changes).map(([c, v]) => [c, toWire(v.after)]))) : null,
          reason: e.reason ?? null,
        });
      });
      const last = rows[rows.length - 1]!;
      cursor = p.scan.key.map((k) => last[k] ?? null);
      batches++;
      const nondeterministic = evs.filter((e) => e.nondeterministic).length;
      native?.write(nativeRows);
      ledger.checkpoint(run.id, {
        batchesDone: batches,
        cursor: cursor.map(toWire),
        counts,
        extra: () => ledger.insertPlanRows(run.id, planRows),
        ...(nondeterministic ? { event: { nondeterministic } } : {}),
      });
      await ctl.progress();
      if (counts.quarantined > o.quarantineThreshold * counts.scanned && counts.scanned >= Math.min(100, run.totalRows ?? 100)) {
        throw new RedressError(
          'QUARANTINE_LIMIT',
          `${counts.quarantined} of ${counts.scanned} rows scanned so far were quarantined, more than the threshold of ${(o.quarantineThreshold * 100).toFixed(1)}%. The dry-run halted. Look at the quarantined rows (\`redress diffs ${run.id} --status quarantined\`), fix the correction and start again, or raise options.quarantineThreshold.`,
        );
      }
    }
    const header = { codeHash: p.codeHash, manifest: JSON.stringify(p.manifest), fingerprint: p.schema.fingerprint, target: target.description };
    const pages = planPageHashes(ledger, run.id);
    const rowsHash = rowsHashOf(pages);
    const nativeFileHash = native ? native.seal() : null;
    const hash = planContentHash(header, rowsHash, nativeFileHash);
    const changes = pages.reduce((n, pg) => n + pg.rows, 0);
    const planId = planIdOf(hash);
    ledger.tx(() => {
      ledger.insertPlanPages(run.id, pages);
      if (!ledger.plan(planId)) {
        ledger.insertPlan({
          id: planId,
          contentHash: hash,
          dryRunId: run.id,
          correctionId: p.manifest.id,
          correctionPath: p.file,
          codeHash: p.codeHash,
          code: p.code,
          manifest: header.manifest,
          target: target.description,
          tableSchema: JSON.stringify(p.schema),
          changes,
          createdAt: new Date().toISOString(),
          rowsHash,
          rowsPages: pages.length,
          nativeFileHash,
        });
        ledger.append(null, 'plan-created', { planId, contentHash: hash, dryRunId: run.id, correctionId: p.manifest.id, changes, rowsHash, nativeFileHash });
      } else {
        // The same plan again (same code, schema and planned rows): it now reads its rows from this
        // dry-run's, just written and hashed. Making a new plan is what a tampered plan's message
        // advises, and it must work even though the content, and so the plan id, is the same.
        ledger.repointPlan(planId, run.id, pages.length);
        ledger.append(null, 'plan-remade', { planId, contentHash: hash, dryRunId: run.id });
      }
      ledger.db.prepare('UPDATE runs SET plan_id = ? WHERE id = ?').run(planId, run.id);
    });
    return { status: 'completed', message: `plan ${planId}: ${changes} row(s) to change`, data: { planId, contentHash: hash } };
  } finally {
    native?.close();
    await p.sandbox.close();
  }
}
