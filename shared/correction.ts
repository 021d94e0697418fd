// The authoring API: `import { defineCorrection } from 'redress'` in corrections/<name>.correction.ts.
// This module is bundled into every compiled correction, so it has no imports and no state.

/** Column types a correction can declare in `expects`. `any` accepts whatever the target has. */
export type ColumnType = 'text' | 'integer' | 'real' | 'numeric' | 'boolean' | 'blob' | 'json' | 'date' | 'timestamp' | 'any';

export type Row = Record<string, unknown>;

export interface Skip {
  readonly $redress: 'skip';
  readonly reason: string;
}
export interface Quarantine {
  readonly $redress: 'quarantine';
  readonly reason: string;
}

export interface TransformContext {
  /** The run's fixed clock: the same instant for every row of one run. */
  readonly now: Date;
  /** Seeded by the run and the row's key: the same row always draws the same numbers. */
  random(): number;
  /** Leave this row as it is, and count it as skipped with a reason. */
  skip(reason: string): Skip;
  /** Set this row aside for a person to look at; it is not written. */
  quarantine(reason: string): Quarantine;
  /** Free-form parameters given on the command line (`--param name=value`). */
  readonly params: Readonly<Record<string, string>>;
}

/**
 * What a transform returns: the changed fields (or the whole new row), a skip, or a quarantine.
 * Annotate the transform with it (`transform(row, ctx): TransformResult<MoviesRow> { … }`, as New
 * Correction writes it) and a misspelt column in a returned object literal is a type error.
 * TypeScript checks an object literal for unknown properties only against a declared type: an
 * unannotated transform's return type is inferred, and then only a returned object that shares no
 * column at all with the row is refused.
 */
export type TransformResult<R extends Row = Row> = Partial<R> | Skip | Quarantine;

export interface CorrectionSpec<R extends Row = Row> {
  /** Stable id, kebab-case; names the correction in the ledger and in plans. */
  id: string;
  description: string;
  target: {
    table: string;
    /** The table's unique key, one column or several; rows are visited in this order. */
    key: string | string[];
  };
  /** Columns the transform relies on and their types; checked against the target before every run. */
  expects: Record<string, ColumnType>;
  /** Which rows to visit: a SQL condition evaluated by the target (no parameters). */
  select?: { where?: string };
  /**
   * Pure function of the row and the context. Return the changed fields (or the whole new row),
   * `ctx.skip(reason)`, or `ctx.quarantine(reason)`. Throwing quarantines the row with the message.
   */
  transform(row: Readonly<R>, ctx: TransformContext): TransformResult<R>;
  /** Checks every changed row must pass; a failing row is quarantined with the invariant's name. */
  invariants?: Record<string, (after: Readonly<R>, before: Readonly<R>) => boolean>;
  options?: {
    /** Rows per batch (one transaction per batch on apply). Default 500. */
    batchSize?: number;
    /** Halt when more than this fraction of scanned rows is quarantined. Default 0.05. */
    quarantineThreshold?: number;
    /** Rows in a preview sample. Default 200. */
    sampleSize?: number;
  };
}

export type Correction<R extends Row = Row> = CorrectionSpec<R> & { readonly $redress: 'correction' };

/** Declares a correction. The returned object is what the file must `export default`. */
export function defineCorrection<R extends Row = Row>(spec: CorrectionSpec<R>): Correction<R> {
  return Object.assign(Object.create(null), spec, { $redress: 'correction' as const });
}
