// Messages between the daemon and its sandbox worker (same process, structured clone).

export type TransformResult =
  | { t: 'change'; patch: Record<string, unknown> }
  | { t: 'skip'; reason: string }
  | { t: 'quarantine'; reason: string; nondeterministic?: boolean };

export type ToWorker =
  | { type: 'load'; code: string; filename: string; seed: number; now: number; params: Record<string, string> }
  | { type: 'run'; id: number; rows: Record<string, unknown>[]; keys: string[]; recheck: number[] };

export type FromWorker =
  | { type: 'loaded'; manifest: unknown }
  | { type: 'load-error'; message: string }
  | { type: 'results'; id: number; results: TransformResult[]; logs: string[] };
