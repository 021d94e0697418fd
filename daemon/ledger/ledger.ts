// The SQLite ledger: numbered migrations, a hash-chained append-only event log, runs and plans.
import Database from 'better-sqlite3';
import { sqliteOptions } from '../sqliteBinding';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { coerceError, RedressError } from '../../shared/errors';
import type { ApplyCounts, RunKind, RunStatus, RunSummary, Summary } from '../../shared/protocol';
import { sha256 } from '../../shared/values';
import { VERSION } from '../version';
import { migrationsDir } from '../paths';

const GENESIS = '0'.repeat(64);

export interface LedgerEvent {
  seq: number;
  id: string;
  runId: string | null;
  kind: string;
  data: Record<string, unknown>;
  version: string;
  at: string;
}

export interface RunRow {
  id: string;
  kind: RunKind;
  correctionId: string;
  correctionPath: string;
  planId: string | null;
  parentRunId: string | null;
  status: RunStatus;
  options: Record<string, unknown>;
  totalRows: number | null;
  batchesDone: number;
  cursor: unknown;
  counts: Summary;
  apply: ApplyCounts;
  message: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface PlanRow {
  id: string;
  contentHash: string;
  dryRunId: string;
  correctionId: string;
  correctionPath: string;
  codeHash: string;
  code: string;
  manifest: string;
  target: string;
  tableSchema: string;
  changes: number;
  createdAt: string;
  /** Hash of the changed plan rows: over the hashes of their pages (planPageHashes); null for plans made before it was recorded. */
  rowsHash: string | null;
  /** How many pages rowsHash covers (plan_pages); null for plans whose rows hash was over the whole text. */
  rowsPages: number | null;
  /** Hash of the sealed native plan file's bytes; null when the target applies through JavaScript. */
  nativeFileHash: string | null;
}

/** An apply or rollback row that did not go as planned (drifted, missing, already so). */
export interface RowOutcome {
  seq: number;
  outcome: string;
}

/** Changed rows per plan page: the unit the rows hash is made of and apply checks before writing. */
export const PAGE_ROWS = 400;

// Plan rows are the apply loop's hot path: read as arrays (the driver's cheapest form, about half the
// cost of one JSON document per page or an object per row from the driver), made objects here.
const PLAN_ROW_COLUMNS = 'seq, status, key, before_hash, after_hash, before, after, reason';
type PlanRowTuple = [number, PlanRowRecord['status'], string, string | null, string | null, string | null, string | null, string | null];
const planRowOf = (r: PlanRowTuple): PlanRowRecord => ({ seq: r[0], status: r[1], key: r[2], before_hash: r[3], after_hash: r[4], before: r[5], after: r[6], reason: r[7] });

/** A page of plan rows as the plan records it: its last seq, its row count and the sha-256 of its text. */
export interface PlanPage {
  last: number;
  rows: number;
  hash: string;
}

export interface PlanRowRecord {
  seq: number;
  status: 'changed' | 'skipped' | 'quarantined';
  key: string;
  before_hash: string | null;
  after_hash: string | null;
  before: string | null;
  after: string | null;
  reason: string | null;
}

export const emptySummary = (): Summary => ({ scanned: 0, changed: 0, unchanged: 0, skipped: 0, quarantined: 0, changesPerColumn: {} });
export const emptyApply = (): ApplyCounts => ({ applied: 0, alreadyApplied: 0, drifted: 0 });

export function newId(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}${randomBytes(5).toString('hex')}`;
}

export class Ledger {
  readonly db: Database.Database;
  private lastChecksum: string;
  private lastSeq: number;
  private readonly listeners = new Set<(e: LedgerEvent) => void>();

  constructor(readonly path: string) {
    try {
      this.db = new Database(path, sqliteOptions());
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma('busy_timeout = 5000');
      this.migrate();
      // Fault injection for tests: a ledger that may grow by only this many pages, like a full disk.
      const extra = process.env.REDRESS_LEDGER_EXTRA_PAGES;
      if (extra) this.db.pragma(`max_page_count = ${(this.db.pragma('page_count', { simple: true }) as number) + Number(extra)}`);
    } catch (e) {
      throw new RedressError('LEDGER', `Cannot open the ledger at ${path}: ${coerceError(e).message}. Check that the folder is writable and the disk is not full.`);
    }
    const last = this.db.prepare('SELECT seq, checksum FROM events ORDER BY seq DESC LIMIT 1').get() as { seq: number; checksum: string } | undefined;
    this.lastChecksum = last?.checksum ?? GENESIS;
    this.lastSeq = last?.seq ?? 0;
  }

  private migrate(): void {
    this.db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
    const done = new Set((this.db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version));
    const files = readdirSync(migrationsDir())
      .filter((f) => /^\d{4}_.+\.sql$/.test(f))
      .sort();
    for (const f of files) {
      const version = Number(f.slice(0, 4));
      if (done.has(version)) continue;
      const sql = readFileSync(join(migrationsDir(), f), 'utf8');
      this.db.transaction(() => {
        this.db.exec(sql);
        this.db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(version, f, new Date().toISOString());
      })();
    }
  }

  schemaVersion(): number {
    return (this.db.prepare('SELECT max(version) AS v FROM schema_migrations').get() as { v: number }).v;
  }

  /** Appends one event to the chain. Call inside a transaction to make it atomic with other writes. */
  append(runId: string | null, kind: string, data: Record<string, unknown>): LedgerEvent {
    const seq = this.lastSeq + 1;
    this.versionStamp ??= `${VERSION}/${this.schemaVersion()}`; // migrations run only when the ledger opens
    const ev: LedgerEvent = { seq, id: newId('ev'), runId, kind, data, version: this.versionStamp, at: new Date().toISOString() };
    const dataJson = JSON.stringify(data);
    const checksum = chainChecksum(this.lastChecksum, ev, dataJson);
    this.stmt('INSERT INTO events (seq, id, run_id, kind, data, version, at, prev, checksum) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)').run(
      seq,
      ev.id,
      runId,
      kind,
      dataJson,
      ev.version,
      ev.at,
      this.lastChecksum,
      checksum,
    );
    this.lastSeq = seq;
    this.lastChecksum = checksum;
    if (this.db.inTransaction) this.pending.push(ev);
    else this.emit(ev);
    return ev;
  }
  private pending: LedgerEvent[] = [];
  private versionStamp: string | undefined;

  /** Runs fn in one transaction; events appended inside reach listeners only after the commit. */
  tx<T>(fn: () => T): T {
    const savedSeq = this.lastSeq;
    const savedSum = this.lastChecksum;
    try {
      const out = this.db.transaction(fn)();
      const evs = this.pending;
      this.pending = [];
      for (const e of evs) this.emit(e);
      return out;
    } catch (e) {
      this.lastSeq = savedSeq;
      this.lastChecksum = savedSum;
      this.pending = [];
      throw coerceError(e);
    }
  }

  onEvent(fn: (e: LedgerEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(e: LedgerEvent): void {
    for (const l of this.listeners) l(e);
  }

  eventsForRun(runId: string, fromSeq: number, limit: number): LedgerEvent[] {
    return (
      this.db.prepare('SELECT seq, id, run_id, kind, data, version, at FROM events WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?').all(runId, fromSeq, limit) as {
        seq: number;
        id: string;
        run_id: string | null;
        kind: string;
        data: string;
        version: string;
        at: string;
      }[]
    ).map((r) => ({ seq: r.seq, id: r.id, runId: r.run_id, kind: r.kind, data: JSON.parse(r.data), version: r.version, at: r.at }));
  }

  // ---------- runs ----------

  createRun(r: { kind: RunKind; correctionId: string; correctionPath: string; planId?: string | null; parentRunId?: string | null; options: Record<string, unknown>; totalRows?: number | null }): RunRow {
    const now = new Date().toISOString();
    const id = newId(r.kind === 'dry-run' ? 'dry' : r.kind);
    this.tx(() => {
      this.db
        .prepare(
          `INSERT INTO runs (id, kind, correction_id, correction_path, plan_id, parent_run_id, status, options, total_rows, counts, apply_counts, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?)`,
        )
        .run(id, r.kind, r.correctionId, r.correctionPath, r.planId ?? null, r.parentRunId ?? null, JSON.stringify(r.options), r.totalRows ?? null, JSON.stringify(emptySummary()), JSON.stringify(emptyApply()), now, now);
      this.append(id, 'started', { kind: r.kind, correctionId: r.correctionId, planId: r.planId ?? null, parentRunId: r.parentRunId ?? null, options: r.options, totalRows: r.totalRows ?? null });
    });
    return this.run(id)!;
  }

  run(id: string): RunRow | undefined {
    const r = this.db.prepare('SELECT * FROM runs WHERE id = ?').get(id) as Record<string, unknown> | undefined;
    return r ? toRunRow(r) : undefined;
  }

  requireRun(id: string): RunRow {
    const r = this.run(id);
    if (!r) throw new RedressError('RUN_NOT_FOUND', `No run with id ${id}. List runs with \`redress runs\`.`);
    return r;
  }

  runs(limit: number): RunRow[] {
    return (this.db.prepare('SELECT * FROM runs ORDER BY created_at DESC, id DESC LIMIT ?').all(limit) as Record<string, unknown>[]).map(toRunRow);
  }

  runsWithStatus(status: RunStatus): RunRow[] {
    return (this.db.prepare('SELECT * FROM runs WHERE status = ?').all(status) as Record<string, unknown>[]).map(toRunRow);
  }

  /**
   * Records a committed batch: new counts and checkpoint, with a progress event, in one transaction.
   * The event repeats the checkpoint and the batch's row outcomes, so `verifyState` can tell whether
   * the runs and row_outcomes tables still say what the chain says.
   */
  checkpoint(
    runId: string,
    u: { batchesDone: number; cursor: unknown; counts: Summary; apply?: ApplyCounts; outcomes?: RowOutcome[]; extra?: () => void; event?: Record<string, unknown> },
  ): void {
    this.tx(() => {
      u.extra?.();
      if (u.outcomes) this.insertOutcomes(runId, u.outcomes);
      this.stmt('UPDATE runs SET batches_done = ?, cursor = ?, counts = ?, apply_counts = COALESCE(?, apply_counts), updated_at = ? WHERE id = ?')
        .run(u.batchesDone, JSON.stringify(u.cursor), JSON.stringify(u.counts), u.apply ? JSON.stringify(u.apply) : null, new Date().toISOString(), runId);
      this.append(runId, 'progress', {
        batch: u.batchesDone,
        cursor: u.cursor ?? null,
        counts: u.counts,
        ...(u.apply ? { apply: u.apply } : {}),
        ...(u.outcomes ? { outcomes: u.outcomes.map((o) => [o.seq, o.outcome]) } : {}),
        ...(u.event ?? {}),
      });
    });
  }

  setStatus(runId: string, status: RunStatus, kind: string, message: string | null, data: Record<string, unknown> = {}): void {
    this.tx(() => {
      this.db.prepare('UPDATE runs SET status = ?, message = ?, updated_at = ? WHERE id = ?').run(status, message, new Date().toISOString(), runId);
      this.append(runId, kind, { status, message, ...data });
    });
  }

  // ---------- plans ----------

  insertPlanRows(runId: string, rows: PlanRowRecord[]): void {
    const ins = this.stmt('INSERT OR REPLACE INTO plan_rows (run_id, seq, status, key, before_hash, after_hash, before, after, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
    for (const r of rows) ins.run(runId, r.seq, r.status, r.key, r.before_hash, r.after_hash, r.before, r.after, r.reason);
  }

  /** Plan rows in seq order, starting after `afterSeq`; `status` filters. */
  planRows(runId: string, afterSeq: number, limit: number, status?: string): PlanRowRecord[] {
    const rows = status
      ? this.stmt(`SELECT ${PLAN_ROW_COLUMNS} FROM plan_rows WHERE run_id = ? AND seq > ? AND status = ? ORDER BY seq LIMIT ?`).raw().all(runId, afterSeq, status, limit)
      : this.stmt(`SELECT ${PLAN_ROW_COLUMNS} FROM plan_rows WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?`).raw().all(runId, afterSeq, limit);
    return (rows as PlanRowTuple[]).map(planRowOf);
  }

  insertPlanPages(dryRunId: string, pages: PlanPage[]): void {
    const st = this.db.prepare('INSERT INTO plan_pages (dry_run_id, last_seq, rows, hash) VALUES (?, ?, ?, ?)');
    for (const p of pages) st.run(dryRunId, p.last, p.rows, p.hash);
  }

  /** Whether a run of this plan has halted because the plan was found edited (PLAN_TAMPERED). */
  planFoundTampered(planId: string): boolean {
    return (
      this.db
        .prepare(`SELECT 1 FROM events e JOIN runs r ON r.id = e.run_id WHERE r.plan_id = ? AND e.kind = 'halted' AND json_extract(e.data, '$.code') = 'PLAN_TAMPERED' LIMIT 1`)
        .get(planId) !== undefined
    );
  }

  /** The dry-runs whose rows make a plan: the one it reads them from now and any earlier one that made it. */
  dryRunsOfPlan(planId: string): string[] {
    return (this.db.prepare(`SELECT id FROM runs WHERE kind = 'dry-run' AND plan_id = ? ORDER BY created_at`).all(planId) as { id: string }[]).map((r) => r.id);
  }

  /** A plan made again by a later dry-run: it reads its rows (the same content) from that dry-run's from now on. */
  repointPlan(planId: string, dryRunId: string, rowsPages: number): void {
    this.db.prepare('UPDATE plans SET dry_run_id = ?, rows_pages = ? WHERE id = ?').run(dryRunId, rowsPages, planId);
  }

  planPages(dryRunId: string): PlanPage[] {
    return this.db.prepare('SELECT last_seq AS last, rows, hash FROM plan_pages WHERE dry_run_id = ? ORDER BY last_seq').all(dryRunId) as PlanPage[];
  }

  private readonly stmts = new Map<string, Database.Statement>();
  private stmt(sql: string): Database.Statement {
    let st = this.stmts.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.stmts.set(sql, st);
    }
    return st;
  }


  insertPlan(p: PlanRow): void {
    this.db
      .prepare(
        'INSERT INTO plans (id, content_hash, dry_run_id, correction_id, correction_path, code_hash, code, manifest, target, table_schema, changes, created_at, rows_hash, native_file_hash, rows_pages) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(p.id, p.contentHash, p.dryRunId, p.correctionId, p.correctionPath, p.codeHash, p.code, p.manifest, p.target, p.tableSchema, p.changes, p.createdAt, p.rowsHash, p.nativeFileHash, p.rowsPages);
  }

  plan(id: string): PlanRow | undefined {
    const r = this.db.prepare('SELECT * FROM plans WHERE id = ? OR content_hash = ?').get(id, id) as Record<string, unknown> | undefined;
    if (!r) return undefined;
    return {
      id: r.id as string,
      contentHash: r.content_hash as string,
      dryRunId: r.dry_run_id as string,
      correctionId: r.correction_id as string,
      correctionPath: r.correction_path as string,
      codeHash: r.code_hash as string,
      code: r.code as string,
      manifest: r.manifest as string,
      target: r.target as string,
      tableSchema: r.table_schema as string,
      changes: r.changes as number,
      createdAt: r.created_at as string,
      rowsHash: (r.rows_hash as string | null) ?? null,
      nativeFileHash: (r.native_file_hash as string | null) ?? null,
      rowsPages: (r.rows_pages as number | null) ?? null,
    };
  }

  requirePlan(id: string): PlanRow {
    const p = this.plan(id);
    if (!p) throw new RedressError('PLAN_NOT_FOUND', `No plan ${id} in the ledger. A dry-run makes a plan; list them with \`redress runs\`.`);
    return p;
  }

  plans(): PlanRow[] {
    return (this.db.prepare('SELECT id FROM plans ORDER BY created_at').all() as { id: string }[]).map((r) => this.plan(r.id)!);
  }

  // ---------- apply outcomes ----------

  private insertOutcomes(runId: string, outcomes: RowOutcome[]): void {
    const ins = this.stmt('INSERT OR REPLACE INTO row_outcomes (run_id, seq, outcome) VALUES (?, ?, ?)');
    for (const o of outcomes) ins.run(runId, o.seq, o.outcome);
  }

  outcomes(runId: string): Map<number, string> {
    const m = new Map<number, string>();
    for (const r of this.db.prepare('SELECT seq, outcome FROM row_outcomes WHERE run_id = ?').iterate(runId) as Iterable<{ seq: number; outcome: string }>) m.set(r.seq, r.outcome);
    return m;
  }

  // ---------- verification ----------

  /** Recomputes the event chain; reports the first break. */
  verifyChain(): { ok: boolean; events: number; problems: string[] } {
    const problems: string[] = [];
    let prev = GENESIS;
    let expectSeq = 1;
    let n = 0;
    for (const r of this.db.prepare('SELECT seq, id, run_id, kind, data, version, at, prev, checksum FROM events ORDER BY seq').iterate() as Iterable<{
      seq: number;
      id: string;
      run_id: string | null;
      kind: string;
      data: string;
      version: string;
      at: string;
      prev: string;
      checksum: string;
    }>) {
      n++;
      if (r.seq !== expectSeq) problems.push(`event ${expectSeq} is missing (next is ${r.seq}): events were deleted`);
      if (r.prev !== prev) problems.push(`event ${r.seq} does not chain to the event before it`);
      const sum = chainChecksum(r.prev, { seq: r.seq, id: r.id, runId: r.run_id, kind: r.kind, version: r.version, at: r.at }, r.data);
      if (sum !== r.checksum) problems.push(`event ${r.seq} (${r.kind}) was edited: its checksum does not match its content`);
      prev = r.checksum;
      expectSeq = r.seq + 1;
      if (problems.length >= 20) break;
    }
    return { ok: problems.length === 0, events: n, problems };
  }

  /**
   * Checks that the tables the engine works from (runs, plans, row_outcomes) say what the event chain
   * says: each run's kind, options, status, checkpoint and counts are those of its last events; its row
   * outcomes are those its progress events recorded; each plan was announced by a plan-created event with
   * its content hash (and its dry-run is the one that event, or the last plan-remade event, names), and
   * its stored code hashes to its code hash. An edit to those tables, or events cut
   * from the end of the chain, shows up here. (Whole runs cut from the end together with their rows in
   * runs cannot be told from a shorter history: that needs a copy of the chain head kept elsewhere.)
   */
  verifyState(): string[] {
    type Seen = {
      started?: Record<string, unknown>;
      progress?: Record<string, unknown>;
      status?: { status: unknown; message: unknown };
      /** A dry-run's plan, as its completion names it (a second dry-run of the same plan creates none). */
      planId?: unknown;
      outcomes: Map<number, string>;
    };
    const seen = new Map<string, Seen>();
    const planEvents = new Map<string, Record<string, unknown>>();
    for (const e of this.db.prepare('SELECT run_id, kind, data FROM events ORDER BY seq').iterate() as Iterable<{ run_id: string | null; kind: string; data: string }>) {
      const data = JSON.parse(e.data) as Record<string, unknown>;
      if (e.run_id === null) {
        // A plan made again by a later dry-run reads its rows from that one (see repointPlan).
        if (e.kind === 'plan-created' || e.kind === 'plan-remade') planEvents.set(data.planId as string, { ...planEvents.get(data.planId as string), ...data });
        continue;
      }
      let s = seen.get(e.run_id);
      if (!s) seen.set(e.run_id, (s = { outcomes: new Map() }));
      if (e.kind === 'started') s.started = data;
      else if (e.kind === 'progress') {
        s.progress = data;
        for (const [seq, outcome] of (data.outcomes as [number, string][] | undefined) ?? []) s.outcomes.set(seq, outcome);
      }
      if ('status' in data) s.status = { status: data.status, message: data.message ?? null };
      if (e.kind === 'completed' && 'planId' in data) s.planId = data.planId;
    }

    const planOfDryRun = new Map([...planEvents.values()].map((p) => [p.dryRunId as string, p.planId as string]));
    const problems: string[] = [];
    const differs = (a: unknown, b: unknown) => !isDeepStrictEqual(a, b);
    for (const r of this.db.prepare('SELECT * FROM runs ORDER BY created_at, id').all() as Record<string, unknown>[]) {
      const run = toRunRow(r);
      const s = seen.get(run.id);
      seen.delete(run.id);
      if (!s?.started) {
        problems.push(`run ${run.id}: no 'started' event records it (the runs table was edited)`);
        continue;
      }
      const st = s.started;
      const planId = run.kind === 'dry-run' ? (planOfDryRun.get(run.id) ?? s.planId ?? null) : st.planId;
      if (st.kind !== run.kind || st.correctionId !== run.correctionId || planId !== run.planId || st.parentRunId !== run.parentRunId || differs(st.options, run.options) || st.totalRows !== run.totalRows) {
        problems.push(`run ${run.id}: its kind, correction, plan, parent or options differ from its 'started' event (the runs table was edited)`);
      }
      const status = s.status ?? { status: 'running', message: null };
      if (status.status !== run.status || status.message !== run.message) {
        problems.push(`run ${run.id}: status '${run.status}' differs from its last event ('${String(status.status)}'): the runs table was edited or events were cut from the end of the chain`);
      }
      const p = s.progress ?? { batch: 0, cursor: null, counts: emptySummary() };
      if (p.batch !== run.batchesDone || differs(p.cursor ?? null, run.cursor) || differs(p.counts, run.counts) || (p.apply !== undefined && differs(p.apply, run.apply))) {
        problems.push(`run ${run.id}: its checkpoint or counts differ from its last progress event (batch ${String(p.batch)}): the runs table was edited or events were cut from the end of the chain`);
      }
      const stored = this.outcomes(run.id);
      const mismatch = [...new Set([...stored.keys(), ...s.outcomes.keys()])].filter((seq) => stored.get(seq) !== s.outcomes.get(seq));
      if (mismatch.length > 0) problems.push(`run ${run.id}: row outcomes of plan row(s) ${mismatch.slice(0, 5).join(', ')}${mismatch.length > 5 ? ', …' : ''} differ from what its progress events recorded (row_outcomes was edited)`);
    }
    for (const runId of seen.keys()) problems.push(`run ${runId}: has events but no row in the runs table (it was deleted)`);

    for (const plan of this.plans()) {
      const ev = planEvents.get(plan.id);
      if (!ev || ev.contentHash !== plan.contentHash || ev.dryRunId !== plan.dryRunId) problems.push(`plan ${plan.id}: no plan-created event records it with this content hash (the plans table was edited)`);
      if (sha256(plan.code) !== plan.codeHash) problems.push(`plan ${plan.id}: its stored code does not hash to its code hash (the plans table was edited)`);
    }
    return problems;
  }

  close(): void {
    this.db.close();
  }
}

function chainChecksum(prev: string, e: Pick<LedgerEvent, 'seq' | 'id' | 'runId' | 'kind' | 'version' | 'at'>, dataJson: string): string {
  return sha256(JSON.stringify([prev, e.seq, e.id, e.runId, e.kind, dataJson, e.version, e.at]));
}

function toRunRow(r: Record<string, unknown>): RunRow {
  return {
    id: r.id as string,
    kind: r.kind as RunKind,
    correctionId: r.correction_id as string,
    correctionPath: r.correction_path as string,
    planId: (r.plan_id as string | null) ?? null,
    parentRunId: (r.parent_run_id as string | null) ?? null,
    status: r.status as RunStatus,
    options: JSON.parse(r.options as string),
    totalRows: (r.total_rows as number | null) ?? null,
    batchesDone: r.batches_done as number,
    cursor: r.cursor ? JSON.parse(r.cursor as string) : null,
    counts: JSON.parse(r.counts as string),
    apply: JSON.parse(r.apply_counts as string),
    message: (r.message as string | null) ?? null,
    createdAt: r.created_at as string,
    updatedAt: r.updated_at as string,
  };
}

/**
 * Batches a write run has in flight at most: its `concurrency`, recorded when it was started. Runs made
 * before batches were written at once recorded none: they wrote one at a time.
 */
export const lanesOf = (options: { concurrency?: number }): number => options.concurrency ?? 1;

export function runSummary(r: RunRow): RunSummary {
  return {
    id: r.id,
    kind: r.kind,
    correctionId: r.correctionId,
    planId: r.planId,
    parentRunId: r.parentRunId,
    status: r.status,
    batchesDone: r.batchesDone,
    totalRows: r.totalRows,
    counts: r.counts,
    apply: r.apply,
    concurrency: r.kind === 'apply' || r.kind === 'rollback' ? lanesOf(r.options) : null,
    message: r.message,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  };
}
