// The wire protocol between the daemon and its clients (CLI, VS Code extension), one zod schema per
// message; types are inferred from them. docs/protocol.md describes the same messages for people,
// and test/shared/protocol-doc.test.ts fails when the two disagree.
import { z } from 'zod';
import { ERROR_CODES } from './errors';

export const PROTOCOL_VERSION = 1;
/** Largest frame a client may send; larger frames are closed with 1009 by ws. */
export const MAX_CLIENT_FRAME_BYTES = 1024 * 1024;
/** Header that carries the per-session secret on the WebSocket upgrade request. */
export const SECRET_HEADER = 'x-redress-secret';

// ---------- values and shared shapes ----------

export const WireValue: z.ZodType<import('./values').WireValue> = z.union([
  z.null(),
  z.boolean(),
  z.string(),
  z.number(),
  z.object({ $int: z.string().regex(/^-?\d+$/) }).strict(),
  z.object({ $real: z.enum(['NaN', 'Infinity', '-Infinity', '-0']) }).strict(),
  z.object({ $bytes: z.string() }).strict(),
  z.object({ $json: z.string() }).strict(),
  z.object({ $text: z.string(), $type: z.string() }).strict(),
]);

export const Counts = z.object({
  scanned: z.number().int(),
  changed: z.number().int(),
  unchanged: z.number().int(),
  skipped: z.number().int(),
  quarantined: z.number().int(),
});
export type Counts = z.infer<typeof Counts>;

export const ApplyCounts = z.object({
  applied: z.number().int(),
  alreadyApplied: z.number().int(),
  drifted: z.number().int(),
});
export type ApplyCounts = z.infer<typeof ApplyCounts>;

export const RowStatus = z.enum(['changed', 'unchanged', 'skipped', 'quarantined']);
export type RowStatus = z.infer<typeof RowStatus>;

export const RowDiff = z.object({
  key: z.record(z.string(), WireValue),
  status: RowStatus,
  /** Changed columns only: before and after. */
  changes: z.record(z.string(), z.object({ before: WireValue, after: WireValue })),
  reason: z.string().optional(),
});
export type RowDiff = z.infer<typeof RowDiff>;

export const Summary = Counts.extend({
  changesPerColumn: z.record(z.string(), z.number().int()),
});
export type Summary = z.infer<typeof Summary>;

export const RunKind = z.enum(['dry-run', 'apply', 'rollback', 'verify']);
export type RunKind = z.infer<typeof RunKind>;

export const RunStatus = z.enum(['running', 'paused', 'interrupted', 'halted', 'cancelled', 'failed', 'completed']);
export type RunStatus = z.infer<typeof RunStatus>;

export const RunSummary = z.object({
  id: z.string(),
  kind: RunKind,
  correctionId: z.string(),
  planId: z.string().nullable(),
  parentRunId: z.string().nullable(),
  status: RunStatus,
  batchesDone: z.number().int(),
  totalRows: z.number().int().nullable(),
  counts: Summary,
  apply: ApplyCounts,
  /** An apply's or rollback's batches written at once (recorded when it started); null for other runs. */
  concurrency: z.number().int().nullable().default(null),
  message: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type RunSummary = z.infer<typeof RunSummary>;

export const Diagnostic = z.object({
  severity: z.enum(['error', 'warning']),
  message: z.string(),
  file: z.string(),
  /** 1-based line, 0-based column, like esbuild. Absent when the problem has no place in the file. */
  line: z.number().int().optional(),
  column: z.number().int().optional(),
  length: z.number().int().optional(),
  /** For manifest errors: the zod path inside defineCorrection({...}). */
  path: z.array(z.union([z.string(), z.number()])).optional(),
});
export type Diagnostic = z.infer<typeof Diagnostic>;

export const TableInfo = z.object({
  table: z.string(),
  columns: z.array(z.object({ name: z.string(), type: z.string(), notNull: z.boolean() })),
  /** Column sets with a uniqueness guarantee; the first is the primary key when there is one. */
  uniqueKeys: z.array(z.array(z.string())),
  fingerprint: z.string(),
});
export type TableInfo = z.infer<typeof TableInfo>;

/** Throttling of a write run (daemon/engine/throttle.ts). */
export const Throttle = z
  .object({
    pauseMs: z.number().int().min(0).max(3_600_000).optional(),
    targetBatchMs: z.number().int().min(1).max(600_000).optional(),
    minBatchSize: z.number().int().min(1).max(100_000).optional(),
    maxBatchSize: z.number().int().min(1).max(100_000).optional(),
    healthQuery: z.string().min(1).optional(),
    maxTransactionAgeS: z.number().min(0).optional(),
    maxReplicationLagS: z.number().min(0).optional(),
    healthPollMs: z.number().int().min(10).max(600_000).optional(),
  })
  .strict();
export type Throttle = z.infer<typeof Throttle>;

const CorrectionRef = z.object({
  /** Path of the .correction.ts file, absolute or relative to the workspace. */
  correction: z.string().min(1),
  params: z.record(z.string(), z.string()).default({}),
});

// ---------- requests: one schema per method, params and result ----------

export const methods = {
  hello: {
    params: z.object({ protocol: z.number().int(), client: z.string() }),
    result: z.object({ protocol: z.number().int(), version: z.string(), pid: z.number().int(), workspace: z.string() }),
  },
  status: {
    params: z.object({}).default({}),
    result: z.object({
      pid: z.number().int(),
      version: z.string(),
      uptimeMs: z.number(),
      clients: z.number().int(),
      workspace: z.string(),
      ledgerPath: z.string(),
      target: z.string(),
      activeRuns: z.array(z.string()),
    }),
  },
  schema: {
    /** One table, or (without `table`) every table of the target. */
    params: z.object({ table: z.string().min(1).optional() }).default({}),
    result: z.object({ target: z.string(), kind: z.enum(['sqlite', 'postgres']), tables: z.array(TableInfo) }),
  },
  compile: {
    params: CorrectionRef,
    result: z.object({ ok: z.boolean(), diagnostics: z.array(Diagnostic), correctionId: z.string().nullable() }),
  },
  preview: {
    params: CorrectionRef.extend({
      sampleSize: z.number().int().min(1).max(100_000).optional(),
      seed: z.number().int().optional(),
      /** A snapshot file (redress snapshot) to sample instead of the target, relative to the workspace. */
      snapshot: z.string().min(1).optional(),
    }),
    result: z.object({
      correctionId: z.string(),
      sampleSize: z.number().int(),
      summary: Summary,
      diffs: z.array(RowDiff),
      durationMs: z.number(),
    }),
  },
  snapshot: {
    params: z.object({
      table: z.string().min(1),
      rows: z.number().int().min(1).max(1_000_000),
      seed: z.number().int().default(1),
      stratifyBy: z.string().min(1).optional(),
      where: z.string().min(1).optional(),
      mask: z.array(z.object({ column: z.string().min(1), how: z.enum(['hash', 'redact']) })).default([]),
      /** The SQLite file to write, relative to the workspace; default .redress/snapshots/<table>.sqlite. */
      output: z.string().min(1).optional(),
    }),
    result: z.object({
      path: z.string(),
      table: z.string(),
      rows: z.number().int(),
      sourceRows: z.number().int(),
      source: z.string(),
      fingerprint: z.string(),
      key: z.array(z.string()),
      masked: z.array(z.string()),
      durationMs: z.number(),
    }),
  },
  dryRun: {
    params: CorrectionRef.extend({ batchSize: z.number().int().min(1).max(100_000).optional() }),
    result: z.object({ runId: z.string() }),
  },
  apply: {
    params: z.object({
      planId: z.string(),
      batchSize: z.number().int().min(1).max(100_000).optional(),
      /** Apply only rows whose key hash falls in the first `canaryPercent` percent. */
      canaryPercent: z.number().min(0).max(100).optional(),
      /** Or only the first `canaryRows` rows in the same key-hash order (every row when the plan has fewer). */
      canaryRows: z.number().int().min(1).max(1_000_000_000).optional(),
      /** After the canary slice: verify it, then wait for a person, or continue with the rest when clean. */
      afterCanary: z.enum(['wait', 'continue']).optional(),
      /** Apply the rest of the plan after this completed canary run (rows outside its slice). */
      restOf: z.string().optional(),
      throttle: Throttle.optional(),
      /**
       * Batches written at once, each a transaction on its own connection (default 2 where the target can;
       * SQLite 1). Its upper bound is the target's (the engine refuses more, saying how many it can).
       */
      concurrency: z.number().int().min(1).optional(),
    }),
    result: z.object({ runId: z.string() }),
  },
  tune: {
    params: z.object({ runId: z.string(), batchSize: z.number().int().min(1).max(100_000).optional(), pauseMs: z.number().int().min(0).max(3_600_000).optional() }),
    result: z.object({ runId: z.string() }),
  },
  rollback: { params: z.object({ runId: z.string() }), result: z.object({ runId: z.string() }) },
  verify: { params: z.object({ runId: z.string() }), result: z.object({ runId: z.string() }) },
  resume: { params: z.object({ runId: z.string() }), result: z.object({ runId: z.string() }) },
  pause: { params: z.object({ runId: z.string() }), result: z.object({ status: RunStatus }) },
  cancel: { params: z.object({ runId: z.string() }), result: z.object({ status: RunStatus }) },
  runs: {
    params: z.object({ limit: z.number().int().min(1).max(1000).default(50) }).default({ limit: 50 }),
    result: z.object({ runs: z.array(RunSummary) }),
  },
  run: { params: z.object({ runId: z.string() }), result: RunSummary },
  diffs: {
    params: z.object({
      runId: z.string(),
      offset: z.number().int().min(0).default(0),
      limit: z.number().int().min(1).max(5000).default(500),
      status: RowStatus.optional(),
      /** An apply or rollback run: only the rows it did not write, found drifted (or gone) or already so. */
      outcome: z.enum(['drifted', 'already']).optional(),
      column: z.string().optional(),
      /** Only rows whose key, values or reason contain this text (case-insensitive). */
      text: z.string().min(1).max(200).optional(),
    }),
    result: z.object({ total: z.number().int(), rows: z.array(RowDiff) }),
  },
  subscribe: {
    params: z.object({ runId: z.string(), fromSeq: z.number().int().min(0).default(0) }),
    result: z.object({ subscribed: z.literal(true) }),
  },
  unsubscribe: { params: z.object({ runId: z.string() }), result: z.object({ unsubscribed: z.literal(true) }) },
  ledgerVerify: {
    params: z.object({}).default({}),
    result: z.object({ ok: z.boolean(), events: z.number().int(), plans: z.number().int(), problems: z.array(z.string()) }),
  },
  shutdown: { params: z.object({}).default({}), result: z.object({ stopping: z.literal(true) }) },
} as const;

export type Method = keyof typeof methods;
export type Params<M extends Method> = z.input<(typeof methods)[M]['params']>;
export type ParsedParams<M extends Method> = z.output<(typeof methods)[M]['params']>;
export type Result<M extends Method> = z.infer<(typeof methods)[M]['result']>;

export const Request = z.object({
  id: z.number().int().nonnegative(),
  method: z.string(),
  params: z.unknown().optional(),
});
export type Request = z.infer<typeof Request>;

export const ErrorBody = z.object({
  code: z.enum(Object.keys(ERROR_CODES) as [keyof typeof ERROR_CODES, ...(keyof typeof ERROR_CODES)[]]),
  message: z.string(),
  data: z.record(z.string(), z.unknown()).optional(),
});

// ---------- run events: what subscribers receive, in ledger order ----------

export const RunEventKind = z.enum([
  'started',
  'progress',
  'quarantined',
  'paused',
  'resumed',
  'halted',
  'cancelled',
  'failed',
  'completed',
  'interrupted',
]);
export type RunEventKind = z.infer<typeof RunEventKind>;

export const RunEvent = z.object({
  runId: z.string(),
  seq: z.number().int(),
  kind: RunEventKind,
  at: z.string(),
  data: z.record(z.string(), z.unknown()),
});
export type RunEvent = z.infer<typeof RunEvent>;

export const ServerFrame = z.discriminatedUnion('type', [
  z.object({ type: z.literal('result'), id: z.number().int(), result: z.unknown() }),
  z.object({ type: z.literal('error'), id: z.number().int().nullable(), error: ErrorBody }),
  z.object({ type: z.literal('event'), event: RunEvent }),
]);
export type ServerFrame = z.infer<typeof ServerFrame>;

/** Run states in which nothing more will happen without a person asking. */
export const FINAL_STATUSES: readonly RunStatus[] = ['completed', 'cancelled', 'failed', 'halted'];
