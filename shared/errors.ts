// One error class with a stable code, a message a person can act on, and data.
// Every code is listed in docs/errors.md; test/shared/protocol-doc.test.ts keeps the two in step.

export const ERROR_CODES = {
  BAD_FRAME: 'a WebSocket frame was not valid JSON or did not match the protocol',
  UNKNOWN_METHOD: 'the request named a method the daemon does not have',
  PROTOCOL_VERSION: 'client and daemon speak different protocol versions',
  UNAUTHORIZED: 'the connection did not present the session secret',
  CONFIG: 'the workspace configuration (redress.config.json) is missing or invalid',
  COMPILE: 'the correction file does not compile',
  MANIFEST: 'the correction compiled but its defineCorrection({...}) manifest is invalid',
  TARGET: 'the target database could not be opened or queried',
  NO_TABLE: 'the table the correction names does not exist',
  NO_COLUMN: 'a column the correction expects does not exist or has another type',
  NO_UNIQUE_KEY: 'the declared key is not unique (or can hold NULL) in the target',
  SCHEMA_DRIFT: "the target's schema changed since the plan was made or the run started",
  QUARANTINE_LIMIT: 'too many rows were quarantined; the run halted',
  CANARY_FAILED: 'rows a canary slice wrote do not hold the planned after-state; the rest was not applied',
  NON_DETERMINISTIC: 'the transform gave different results for the same row',
  TRANSFORM_TIMEOUT: 'the transform did not finish a batch in time',
  PLAN_NOT_FOUND: 'no plan with that id',
  PLAN_STALE: 'the plan does not match the correction code or target any more',
  PLAN_TAMPERED: "the plan's rows do not hash to its content hash",
  RUN_NOT_FOUND: 'no run with that id',
  RUN_STATE: 'the run is not in a state that allows this',
  BUSY: 'another run of this correction on this target is in progress',
  LEDGER: 'the ledger could not be written (disk full, read-only, corrupt)',
  LEDGER_TAMPERED: 'the ledger event chain does not verify',
  DAEMON_UNAVAILABLE: 'the daemon is not running and could not be started',
  CANCELLED: 'the operation was cancelled',
  INTERNAL: 'an unexpected error inside Redress',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class RedressError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly data?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'RedressError';
  }

  toJSON(): { code: ErrorCode; message: string; data?: Record<string, unknown> } {
    return { code: this.code, message: this.message, ...(this.data ? { data: this.data } : {}) };
  }
}

/** Turns anything thrown into a RedressError without losing its message. */
export function coerceError(e: unknown): RedressError {
  if (e instanceof RedressError) return e;
  if (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'SQLITE_FULL' || code === 'SQLITE_READONLY' || code === 'SQLITE_CORRUPT' || code === 'ENOSPC') {
      return new RedressError('LEDGER', `${e.message}. Free disk space or fix permissions, then resume the run; nothing was lost.`);
    }
    return new RedressError('INTERNAL', e.message, e.stack ? { stack: e.stack } : undefined);
  }
  return new RedressError('INTERNAL', String(e));
}
