// One handler per protocol method (subscribe/unsubscribe live in the server: they are per connection).
import { resolve } from 'node:path';
import { RedressError } from '../../shared/errors';
import { PROTOCOL_VERSION, type Method, type ParsedParams, type Result, type RowDiff } from '../../shared/protocol';
import type { WireValue } from '../../shared/values';
import { Engine } from '../engine/engine';
import { runSummary, type Ledger, type PlanRow } from '../ledger/ledger';
import { compileCorrection } from '../sandbox/compile';
import { VERSION } from '../version';
import { Sandbox } from '../sandbox/sandbox';
import { existsSync, readFileSync } from 'node:fs';
import { fileHash, nativePlanPath } from '../engine/nativePlan';
import { checkedPlanRows, type PageEdit, planContentHash, planIdOf, rowsHashOf } from '../engine/planHash';
import { snapshotRequest } from '../targets/snapshot';

export type Handlers = { [M in Exclude<Method, 'subscribe' | 'unsubscribe'>]: (p: ParsedParams<M>) => Promise<Result<M>> | Result<M> };

export function makeHandlers(d: { engine: Engine; ledger: Ledger; workspace: string; startedAt: number; clients: () => number; shutdown: () => void }): Handlers {
  const { engine, ledger } = d;
  return {
    hello: (p) => {
      if (p.protocol !== PROTOCOL_VERSION) {
        throw new RedressError('PROTOCOL_VERSION', `This daemon speaks protocol ${PROTOCOL_VERSION}, the client ${p.protocol}. Restart the daemon (\`redress daemon stop\`) so that matching versions run.`);
      }
      return { protocol: PROTOCOL_VERSION, version: VERSION, pid: process.pid, workspace: d.workspace };
    },
    status: () => ({
      pid: process.pid,
      version: VERSION,
      uptimeMs: Date.now() - d.startedAt,
      clients: d.clients(),
      workspace: d.workspace,
      ledgerPath: ledger.path,
      target: engine.target.description,
      activeRuns: engine.activeRunIds(),
    }),
    schema: async (p) => {
      const target = engine.target;
      let names: string[];
      if (p.table) names = [p.table];
      else if (target.listTables) names = await target.listTables();
      else throw new RedressError('TARGET', `The ${target.kind} target cannot list its tables; ask for one table by name.`);
      const tables = [];
      for (const n of names) tables.push(await target.tableSchema(n));
      return { target: target.description, kind: target.kind, tables };
    },
    compile: async (p) => {
      const file = resolve(d.workspace, p.correction);
      const c = await compileCorrection(file);
      if (!c.ok) return { ok: false, diagnostics: c.diagnostics, correctionId: null };
      try {
        const sb = await Sandbox.load(c.code, file, readFileSync(file, 'utf8'), { seed: 1, now: Date.now(), params: p.params });
        await sb.close();
        return { ok: true, diagnostics: c.diagnostics, correctionId: sb.manifest.id };
      } catch (e) {
        if (e instanceof RedressError && e.code === 'MANIFEST') {
          const ds = (e.data?.diagnostics as Result<'compile'>['diagnostics'] | undefined) ?? [{ severity: 'error' as const, message: e.message, file }];
          return { ok: false, diagnostics: ds, correctionId: null };
        }
        throw e;
      }
    },
    preview: (p) => engine.preview(p),
    snapshot: (p) => snapshotRequest(engine.target, d.workspace, p),
    dryRun: async (p) => ({ runId: await engine.startDryRun(p) }),
    apply: async (p) => ({ runId: await engine.startApply(p) }),
    tune: (p) => {
      ledger.requireRun(p.runId);
      engine.tune(p.runId, { ...(p.batchSize !== undefined ? { batchSize: p.batchSize } : {}), ...(p.pauseMs !== undefined ? { pauseMs: p.pauseMs } : {}) });
      return { runId: p.runId };
    },
    rollback: async (p) => ({ runId: await engine.startFollowUp('rollback', p.runId) }),
    verify: async (p) => ({ runId: await engine.startFollowUp('verify', p.runId) }),
    resume: async (p) => ({ runId: await engine.resume(p.runId) }),
    pause: (p) => ({ status: engine.request(p.runId, 'pause') }),
    cancel: (p) => ({ status: engine.request(p.runId, 'cancel') }),
    runs: (p) => ({ runs: ledger.runs(p.limit).map((r) => runSummary(engine.runView(r))) }),
    run: (p) => runSummary(engine.runView(ledger.requireRun(p.runId))),
    diffs: (p) => {
      const run = ledger.requireRun(p.runId);
      const dry = run.kind === 'dry-run' ? run : ledger.requireRun(ledger.requirePlan(run.planId!).dryRunId);
      if (p.outcome && run.kind !== 'apply' && run.kind !== 'rollback') {
        throw new RedressError('RUN_STATE', `Run ${run.id} is a ${run.kind}: outcome picks the rows an apply or rollback run did not write. Give an apply or rollback run.`);
      }
      const keyCols = (dry.options as { key?: string[] }).key ?? null;
      if (p.column && dry.planId) {
        // A column the table does not have would only ever match nothing: say so instead.
        const schema = JSON.parse(ledger.requirePlan(dry.planId).tableSchema) as { table: string; columns: { name: string }[] };
        const names = schema.columns.map((c) => c.name);
        if (!names.includes(p.column)) {
          throw new RedressError('NO_COLUMN', `No column "${p.column}" in ${schema.table}, the table this plan changes. Its columns: ${names.join(', ')}.`);
        }
      }
      return ledgerDiffs(ledger, dry.id, keyCols, p, p.outcome ? run.id : null);
    },
    ledgerVerify: () => {
      const chain = ledger.verifyChain();
      const problems = [...chain.problems, ...ledger.verifyState()];
      let plans = 0;
      for (const plan of ledger.plans()) {
        plans++;
        problems.push(...planProblems(ledger, plan));
      }
      return { ok: problems.length === 0, events: chain.events, plans, problems };
    },
    shutdown: () => {
      setImmediate(d.shutdown);
      return { stopping: true as const };
    },
  };
}

/** What `ledger verify` finds wrong with a plan: its rows, its native file, or its record edited. */
function planProblems(ledger: Ledger, plan: PlanRow): string[] {
  if (plan.rowsHash === null || plan.rowsPages === null) return [`plan ${plan.id}: made by an earlier version of Redress, without the hashes this one checks; make a new plan with a dry-run`];
  const problems: string[] = [];
  // Every dry-run that made this plan keeps the plan's rows (the plan reads them from its latest one):
  // an edit to an earlier copy is evidence too.
  for (const dryRunId of ledger.dryRunsOfPlan(plan.id)) {
    const whose = dryRunId === plan.dryRunId ? 'its rows' : `the copy of its rows kept by dry-run ${dryRunId}`;
    const recorded = ledger.planPages(dryRunId);
    if (rowsHashOf(recorded) !== plan.rowsHash) {
      problems.push(`plan ${plan.id}: the page hashes of ${whose} were edited (content hash mismatch)`);
      continue;
    }
    // The same page check a run makes, over every page and up to the last changed row there is.
    let edit: PageEdit | undefined;
    try {
      checkedPlanRows(ledger, dryRunId, recorded, (found) => ((edit = found), new Error('plan page edited'))).checkAll();
    } catch (e) {
      if (!edit) throw e;
    }
    if (edit && 'addedAfter' in edit) problems.push(`plan ${plan.id}: ${whose} were edited (content hash mismatch): changed rows were added after seq ${edit.addedAfter}`);
    else if (edit) problems.push(`plan ${plan.id}: ${whose} were edited (content hash mismatch), in the page of rows ${edit.after < 0 ? '' : `after seq ${edit.after} `}up to seq ${edit.upTo}`);
  }
  if (plan.nativeFileHash !== null) {
    const path = nativePlanPath(ledger.path, plan.nativeFileHash);
    if (!existsSync(path)) problems.push(`plan ${plan.id}: its native plan file ${path} is missing`);
    else if (fileHash(path) !== plan.nativeFileHash) problems.push(`plan ${plan.id}: its native plan file ${path} was edited (content hash mismatch)`);
  }
  const schema = JSON.parse(plan.tableSchema) as { fingerprint: string };
  const header = { codeHash: plan.codeHash, manifest: plan.manifest, fingerprint: schema.fingerprint, target: plan.target };
  if (planContentHash(header, plan.rowsHash, plan.nativeFileHash) !== plan.contentHash || planIdOf(plan.contentHash) !== plan.id) {
    problems.push(`plan ${plan.id}: its record in the plans table was edited (content hash mismatch)`);
  }
  return problems;
}

/** Why an apply or rollback left a row as it was (row_outcomes), for people. */
const OUTCOME_REASONS: Record<string, string> = {
  drifted: 'drifted: the row changed after it was planned (or after the apply, for a rollback); not written',
  missing: 'drifted: the row is gone; not written',
  already: 'already so: the row held the state this run writes',
};

function ledgerDiffs(ledger: Ledger, dryRunId: string, keyCols: string[] | null, p: ParsedParams<'diffs'>, outcomesOf: string | null): Result<'diffs'> {
  const where = ['run_id = ?'];
  const args: unknown[] = [dryRunId];
  if (outcomesOf) {
    where.push(`seq IN (SELECT o.seq FROM row_outcomes AS o WHERE o.run_id = ? AND o.outcome IN (${p.outcome === 'drifted' ? "'drifted', 'missing'" : "'already'"}))`);
    args.push(outcomesOf);
  }
  if (p.status) {
    where.push('status = ?');
    args.push(p.status);
  }
  if (p.column) {
    where.push('after IS NOT NULL AND json_type(after, ?) IS NOT NULL');
    args.push(`$."${p.column.replace(/"/g, '')}"`);
  }
  if (p.text) {
    // LIKE is case-insensitive for ASCII in SQLite; % and _ in the text are matched literally.
    where.push(`(key LIKE ? ESCAPE '\\' OR before LIKE ? ESCAPE '\\' OR after LIKE ? ESCAPE '\\' OR reason LIKE ? ESCAPE '\\')`);
    const like = `%${p.text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    args.push(like, like, like, like);
  }
  const w = where.join(' AND ');
  const total = (ledger.db.prepare(`SELECT count(*) AS n FROM plan_rows WHERE ${w}`).get(...args) as { n: number }).n;
  const outcome = outcomesOf ? `(SELECT o.outcome FROM row_outcomes AS o WHERE o.run_id = ? AND o.seq = plan_rows.seq)` : 'NULL';
  const rows = ledger.db
    .prepare(`SELECT status, key, before, after, reason, ${outcome} AS outcome FROM plan_rows WHERE ${w} ORDER BY seq LIMIT ? OFFSET ?`)
    .all(...(outcomesOf ? [outcomesOf] : []), ...args, p.limit, p.offset) as {
    outcome: string | null;
    status: RowDiff['status'];
    key: string;
    before: string | null;
    after: string | null;
    reason: string | null;
  }[];
  return {
    total,
    rows: rows.map((r) => {
      const key = JSON.parse(r.key) as WireValue[];
      const before = r.before ? (JSON.parse(r.before) as Record<string, WireValue>) : {};
      const after = r.after ? (JSON.parse(r.after) as Record<string, WireValue>) : {};
      const changes: RowDiff['changes'] = {};
      for (const c of Object.keys(after)) changes[c] = { before: before[c] ?? null, after: after[c] ?? null };
      return {
        key: Object.fromEntries(key.map((v, i) => [keyCols?.[i] ?? `key${i + 1}`, v])),
        status: r.status,
        changes,
        ...(r.outcome ? { reason: OUTCOME_REASONS[r.outcome] ?? r.outcome } : r.reason ? { reason: r.reason } : {}),
      };
    }),
  };
}
