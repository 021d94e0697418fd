// What the engine needs from a datastore. SQLite files now; PostgreSQL implements the same interface.
import type { StoredValue } from '../../shared/values';
import type { Slice } from '../engine/nativePlan';

export interface Column {
  name: string;
  /** The type as the target declares it (SQLite: the declared type text; PostgreSQL: the type name). */
  type: string;
  notNull: boolean;
}

export interface TableSchema {
  table: string;
  columns: Column[];
  /** Column sets with a uniqueness guarantee (primary key, unique indexes). */
  uniqueKeys: string[][];
  /** Hash over everything the engine relies on: columns, types, nullability, unique keys. */
  fingerprint: string;
}

export type StoredRow = Record<string, StoredValue>;
export type KeyTuple = StoredValue[];

export interface Scan {
  table: string;
  key: string[];
  where?: string;
  /** The correction writing (apply, rollback): targets that can serialise runs lock on it. */
  correctionId?: string;
}

/**
 * One compare-and-set write: set `set` on the row with `key` only if the row's token (see
 * Target.rowTokens: a hash, or the target's own canonical rendering of the row) is `expectHash`.
 */
export interface CasWrite {
  key: KeyTuple;
  expectHash: string;
  /** The hash the row has once written; a row that already has it counts as done (idempotent replay). */
  doneHash: string;
  set: StoredRow;
}

/** written: changed now; already: had the after-state; drifted: neither; missing: the row is gone. */
export type CasOutcome = 'written' | 'already' | 'drifted' | 'missing';

export interface Target {
  readonly kind: 'sqlite' | 'postgres';
  /** For people and the ledger; never includes a password. */
  readonly description: string;
  tableSchema(table: string): Promise<TableSchema>;
  /** The tables a correction can name (for the editor's table picker and typed rows). */
  listTables?(): Promise<string[]>;
  countRows(scan: Scan): Promise<number>;
  /** Rows with key strictly after `after` (null: from the start), in key order. */
  readRange(scan: Scan, schema: TableSchema, after: KeyTuple | null, limit: number): Promise<StoredRow[]>;
  readKeys(scan: Scan, schema: TableSchema, keys: KeyTuple[]): Promise<(StoredRow | undefined)[]>;
  /** A uniform sample of n rows, the same for the same seed. */
  sample(scan: Scan, schema: TableSchema, n: number, seed: number): Promise<StoredRow[]>;
  /** Key columns that hold NULL somewhere, with the number of such rows. */
  nullKeyRows(scan: Scan): Promise<number>;
  /** How the transform sees a stored value (plain JavaScript values). */
  toFriendly(column: Column, v: StoredValue): unknown;
  /** The exact values the target would store for these (partial) rows, or why a value does not fit. */
  normalize(schema: TableSchema, rows: Record<string, unknown>[]): Promise<(StoredRow | ValueFitError)[]>;
  /** Whether a column can hold what a correction declared in `expects`. */
  typeMatches(column: Column, expected: string): boolean;
  /**
   * The compare-and-set token of each row: equal exactly when the rows are the same. Without it the
   * engine hashes every column's canonical value (rowHash).
   */
  rowTokens?(schema: TableSchema, rows: StoredRow[]): string[];
  /** Canonical string of a stored value of this column (JSON columns compare canonically). */
  canonical(column: Column, v: StoredValue): string;
  /**
   * Whether writes should wait now (throttling): null to go on, or the reason to wait. Runs the
   * configured health query and built-in checks (long transactions, replication lag) where it can.
   */
  healthCheck?(o: { healthQuery?: string; maxTransactionAgeS?: number; maxReplicationLagS?: number }): Promise<string | null>;
  /**
   * Takes the lock a write run (apply, rollback) holds from its start to its end, so two runs of one
   * correction on one table never overlap, even from two daemons; throws BUSY, naming the holder, when
   * another run has it. Targets without one rely on the daemon's own check (one daemon per workspace).
   */
  lockRun?(scan: Scan, holder: string): Promise<RunLock>;
  /**
   * Targets that apply a plan in SQL (SQLite): the dry-run writes a native plan file for them
   * (engine/nativePlan.ts), and apply and rollback run each batch with nativeBatch, the rows never
   * passing through JavaScript.
   */
  nativeBatch?(plan: NativePlanRef, scan: Scan, schema: TableSchema, batch: NativeBatch): Promise<NativeBatchResult>;
  /** Lets go of a native plan file (detaches it); safe to call for one never used. */
  releaseNative?(plan: NativePlanRef): Promise<void>;
  /**
   * All writes in one transaction, after checking the fingerprint (throws SCHEMA_DRIFT): how targets
   * without nativeBatch (PostgreSQL) apply a plan, its rows read from the ledger.
   */
  casWrite?(scan: Scan, schema: TableSchema, writes: CasWrite[], hashRow: (row: StoredRow) => string): Promise<CasOutcome[]>;
  /** How many casWrite calls may run at once, each on a connection of its own (absent: one at a time). */
  readonly maxConcurrentWrites?: number;
  close(): Promise<void>;
}

/** A sealed native plan file, checked against its hash before it is handed to the target. */
export interface NativePlanRef {
  path: string;
  /** Names the attachment: one per plan. */
  id: string;
}

/**
 * One batch of a native apply or rollback: the next `limit` plan rows after `afterSeq` in the slice,
 * written with compare-and-set in one transaction (after checking the fingerprint). Rows whose seq is
 * in `skip` are left out (rollback: rows its apply did not write).
 */
export interface NativeBatch {
  direction: 'apply' | 'rollback';
  afterSeq: number;
  limit: number;
  slice: Slice;
  skip?: number[];
}

export interface NativeBatchResult {
  /** The last seq of the batch; null when no row is left. */
  scannedTo: number | null;
  rows: number;
  /** Rows not written now: 'already' in the state the write leaves, 'drifted', or 'missing'. */
  exceptions: { seq: number; outcome: Exclude<CasOutcome, 'written'> }[];
}

/** A held run lock (Target.lockRun). */
export interface RunLock {
  /** Names the run that holds it, for whoever is refused it (PostgreSQL: the lock session's application_name). */
  describe(holder: string): Promise<void>;
  /** Gives it up; safe to call twice. */
  release(): Promise<void>;
}

/** A value the transform returned does not fit its column; the row is quarantined with this message. */
export class ValueFitError extends Error {
  constructor(
    readonly column: string,
    message: string,
  ) {
    super(message);
  }
}
