// Dry-run: every selected row through the transform in checkpointed batches, no writes to the target.
// The planned changes are stored in the ledger as the run goes; the finished run yields a plan.
import { RedressError } from '../../shared/errors';
import { fromWire, toWire, type WireValue } from '../../shared/values';
import type { Ledger, PlanRowRecord, RunRow } from '../ledger/ledger';
import type { Target } from '../targets/target';
import { schemaDrift } from '../targets/schemaDrift';
import { addToSummary, evaluateBatch } from './evaluate';
import { planContentHash, planIdOf } from './planHash';
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
  try {
    if (p.schema.fingerprint !== o.fingerprint) throw new RedressError('SCHEMA_DRIFT', `The schema of "${p.scan.table}" changed since this dry-run started. Start a new dry-run.`);
    const tokens = rowTokenizer(target, p.schema);
    const counts = run.counts;
    let cursor = run.cursor ? (run.cursor as WireValue[]).map(fromWire) : null;
    let batches = run.batchesDone;
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
      evs.forEach((e, i) => {
        if (e.status === 'unchanged') return;
        const changed = e.status === 'changed';
        planRows.push({
          seq: base + i,
          status: e.status,
          key: JSON.stringify(e.key.map(toWire)),
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
    const { hash, changes } = planContentHash(ledger, run.id, header);
    const planId = planIdOf(hash);
    ledger.tx(() => {
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
        });
        ledger.append(null, 'plan-created', { planId, contentHash: hash, dryRunId: run.id, correctionId: p.manifest.id, changes });
      }
      ledger.db.prepare('UPDATE runs SET plan_id = ? WHERE id = ?').run(planId, run.id);
    });
    return { status: 'completed', message: `plan ${planId}: ${changes} row(s) to change`, data: { planId, contentHash: hash } };
  } finally {
    await p.sandbox.close();
  }
}
