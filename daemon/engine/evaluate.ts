// Runs one batch of rows through the transform and works out, per row, what would change.
// Shared by preview (a sample) and dry-run (every selected row).
import type { RowDiff, Summary } from '../../shared/protocol';
import { toWire, type StoredValue } from '../../shared/values';
import type { KeyTuple, StoredRow, TableSchema, Target } from '../targets/target';
import { ValueFitError } from '../targets/target';
import { keyOf, keyString, type Prepared } from './prepare';

export interface Evaluated {
  key: KeyTuple;
  status: 'changed' | 'unchanged' | 'skipped' | 'quarantined';
  /** Changed columns: stored before and after values. */
  changes: Record<string, { before: StoredValue; after: StoredValue }>;
  beforeHash?: string;
  afterHash?: string;
  reason?: string;
  nondeterministic?: boolean;
}

export async function evaluateBatch(
  p: Prepared,
  target: Target,
  tokens: (rows: StoredRow[]) => string[],
  rows: StoredRow[],
  recheck: (i: number) => boolean,
): Promise<Evaluated[]> {
  const { schema } = p;
  const friendly = rows.map((r) => toFriendlyRow(target, schema, r));
  const keys = rows.map((r) => keyOf(r, p.scan.key));
  const recheckIdx = rows.map((_, i) => i).filter(recheck);
  const results = await p.sandbox.run(friendly, keys.map(keyString), recheckIdx);

  const out: Evaluated[] = new Array(rows.length);
  const candidates: { i: number; patch: Record<string, unknown> }[] = [];
  const colNames = new Set(schema.columns.map((c) => c.name));
  results.forEach((r, i) => {
    const key = keys[i]!;
    if (r.t === 'skip') out[i] = { key, status: 'skipped', changes: {}, reason: r.reason };
    else if (r.t === 'quarantine') out[i] = { key, status: 'quarantined', changes: {}, reason: r.reason, ...(r.nondeterministic ? { nondeterministic: true } : {}) };
    else {
      const patch: Record<string, unknown> = {};
      for (const [col, v] of Object.entries(r.patch)) {
        if (!colNames.has(col)) {
          out[i] = { key, status: 'quarantined', changes: {}, reason: `transform returned column "${col}", which "${schema.table}" does not have` };
          return;
        }
        if (sameFriendly(v, friendly[i]![col])) continue;
        if (p.scan.key.includes(col)) {
          out[i] = { key, status: 'quarantined', changes: {}, reason: `transform changed key column "${col}"; keys address rows and cannot be corrected in place` };
          return;
        }
        patch[col] = v;
      }
      if (Object.keys(patch).length === 0) out[i] = { key, status: 'unchanged', changes: {} };
      else candidates.push({ i, patch });
    }
  });

  const changedIdx: number[] = [];
  if (candidates.length) {
    const normalized = await target.normalize(schema, candidates.map((c) => c.patch));
    const cols = new Map(schema.columns.map((c) => [c.name, c]));
    candidates.forEach(({ i, patch }, j) => {
      const n = normalized[j]!;
      const before = rows[i]!;
      const key = keys[i]!;
      if (n instanceof ValueFitError) {
        out[i] = { key, status: 'quarantined', changes: {}, reason: `value does not fit: ${n.message}` };
        return;
      }
      const changes: Evaluated['changes'] = {};
      for (const col of Object.keys(patch)) {
        const c = cols.get(col)!;
        if (target.canonical(c, n[col]!) !== target.canonical(c, before[col] ?? null)) changes[col] = { before: before[col] ?? null, after: n[col]! };
      }
      if (Object.keys(changes).length === 0) {
        out[i] = { key, status: 'unchanged', changes: {} };
        return;
      }
      out[i] = { key, status: 'changed', changes };
      changedIdx.push(i);
    });
  }
  if (changedIdx.length) {
    // Compare-and-set tokens of the before- and after-state of every changed row, a batch at a time.
    const befores = changedIdx.map((i) => rows[i]!);
    const afters = changedIdx.map((i) => {
      const after: StoredRow = { ...rows[i]! };
      for (const [col, ch] of Object.entries(out[i]!.changes)) after[col] = ch.after;
      return after;
    });
    const bt = tokens(befores);
    const at = tokens(afters);
    changedIdx.forEach((i, j) => {
      if (bt[j] === at[j]) {
        // Compare-and-set could not tell the written row from the unwritten one: never plan that.
        out[i] = { key: out[i]!.key, status: 'quarantined', changes: {}, reason: `the change (${Object.keys(out[i]!.changes).join(', ')}) is invisible to ${target.kind}'s row comparison, so it cannot be applied exactly once` };
        return;
      }
      out[i]!.beforeHash = bt[j]!;
      out[i]!.afterHash = at[j]!;
    });
  }
  return out;
}

export function toFriendlyRow(target: Target, schema: TableSchema, r: StoredRow): Record<string, unknown> {
  const f: Record<string, unknown> = {};
  for (const c of schema.columns) f[c.name] = target.toFriendly(c, r[c.name] ?? null);
  return f;
}

/** The transform handed back the value it was given: not a change, whatever the column's type. */
function sameFriendly(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (a instanceof Uint8Array && b instanceof Uint8Array) return a.length === b.length && a.every((x, i) => x === b[i]);
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object' && !(a instanceof Uint8Array)) {
    // A JSON document is a plain object or array whose keys may be "toString" or "constructor": only
    // objects of a class are also compared by their own text (a Date's time, say).
    const proto = Object.getPrototypeOf(a) as unknown;
    if (proto !== Object.getPrototypeOf(b)) return false;
    const plain = proto === Object.prototype || proto === Array.prototype || proto === null;
    return (plain || String(a) === String(b)) && stableJson(a) === stableJson(b);
  }
  return false;
}

/** JSON.stringify that survives bigints (a PostgreSQL jsonb value can hold integers beyond 2^53). */
function stableJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x instanceof Uint8Array ? `bytes:${Buffer.from(x).toString('hex')}` : x));
}

export function addToSummary(s: Summary, evs: Evaluated[]): void {
  for (const e of evs) {
    s.scanned++;
    s[e.status]++;
    if (e.status === 'changed') for (const col of Object.keys(e.changes)) s.changesPerColumn[col] = (s.changesPerColumn[col] ?? 0) + 1;
  }
}

export function toRowDiff(e: Evaluated, keyCols: string[]): RowDiff {
  const key: RowDiff['key'] = {};
  keyCols.forEach((k, i) => (key[k] = toWire(e.key[i] ?? null)));
  const changes: RowDiff['changes'] = {};
  for (const [col, ch] of Object.entries(e.changes)) changes[col] = { before: toWire(ch.before), after: toWire(ch.after) };
  return { key, status: e.status, changes, ...(e.reason !== undefined ? { reason: e.reason } : {}) };
}
