// Random tables for the property tests (test/properties/): a table's shape, its rows and a per-row patch;
// creation in a real SQLite file with an audit trigger that counts committed writes per row; exact reads
// (every value with its SQLite storage class); corrections whose transform applies the patch.
import assert from 'node:assert/strict';
import type Database from 'better-sqlite3';
import fc from 'fast-check';
import { fromWire, type WireValue } from '../../shared/values';

/** A value as better-sqlite3 binds it (integers as bigint so that untyped columns get integers). */
export type SqlValue = null | bigint | number | string | Uint8Array;

export interface ColumnSpec {
  name: string;
  type: string;
  notNull: boolean;
}

/**
 * int: INTEGER PRIMARY KEY; text: TEXT PRIMARY KEY; int+text: composite primary key; unique-index: no PK,
 * a UNIQUE index; any: an untyped PRIMARY KEY holding integers, reals, text and blobs side by side.
 */
export type KeyKind = 'int' | 'text' | 'int+text' | 'unique-index' | 'any';

export interface TableSpec {
  table: string;
  keyKind: KeyKind;
  withoutRowid: boolean;
  keys: ColumnSpec[];
  cols: ColumnSpec[];
  /** Key columns and value columns. */
  rows: Record<string, SqlValue>[];
}

/** A row's patch: column -> new value, or SAME (the transform returns the row's current value). */
export const SAME = Symbol('same');
export type Patch = Record<string, SqlValue | typeof SAME>;

export const q = (name: string) => '"' + name.replace(/"/g, '""') + '"';

// ---------- values ----------

export const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
/** Integers right around 2^53, where a double stops being exact. */
export const nearSafe = fc.tuple(fc.bigInt({ min: -3n, max: 3n }), fc.boolean()).map(([d, neg]) => (neg ? -1n : 1n) * (2n ** 53n + d));
export const smallInt = fc.bigInt({ min: -1000n, max: 1000n });

export const textArb: fc.Arbitrary<string> = fc.oneof(
  fc.constant(''),
  fc.string({ unit: 'grapheme', maxLength: 10 }),
  fc.string({ unit: 'binary', maxLength: 6 }),
  fc.constantFrom('0', '1.0', ' 12 ', '1e3', 'NULL', 'null', 'a\u0000b', 'e\u0301', '\u00e9', '👩‍👩‍👧', '{"b":1,"a":2}'),
);

export const floatArb: fc.Arbitrary<number> = fc.oneof(
  fc.double(),
  fc.constantFrom(-0, 0, Infinity, -Infinity, NaN, 0.1 + 0.2, 2 ** 53, 2 ** 53 + 2, 1e20, -1e300, 5e-324, 1.5, 2 ** 63, -(2 ** 63)),
);

export const blobArb: fc.Arbitrary<Uint8Array> = fc.uint8Array({ maxLength: 8 });

// JSON documents, as a tree so that one document can be written with its keys in another order.
export type JNode = { o: [string, JNode][] } | { a: JNode[] } | { l: string };
const jLit: fc.Arbitrary<JNode> = fc
  .oneof(
    fc.integer().map(String),
    int64.map(String),
    fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => JSON.stringify(x)),
    fc.string({ unit: 'grapheme', maxLength: 5 }).map((s) => JSON.stringify(s)),
    fc.constantFrom('true', 'false', 'null', '1.0', '1e2', '-0', '12345678901234567890123'),
  )
  .map((l) => ({ l }));
const jKey = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 4 }), fc.constantFrom('a', 'b', 'A', 'é', 'e\u0301', ''));
export const jsonDocArb: fc.Arbitrary<JNode> = fc.letrec<{ node: JNode; obj: JNode }>((tie) => ({
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, jLit, tie('obj'), fc.array(tie('node'), { maxLength: 3 }).map((a) => ({ a }))),
  obj: fc.uniqueArray(fc.tuple(jKey, tie('node')), { selector: (e) => e[0], maxLength: 4 }).map((o) => ({ o })),
})).obj;

/** JSON text of a document; `reorder` writes every object's keys in reverse order, with white space. */
export function renderJson(n: JNode, reorder = false): string {
  if ('l' in n) return n.l;
  if ('a' in n) return '[' + n.a.map((x) => renderJson(x, reorder)).join(reorder ? ', ' : ',') + ']';
  const entries = reorder ? [...n.o].reverse() : n.o;
  return '{' + entries.map(([k, v]) => JSON.stringify(k) + (reorder ? ' : ' : ':') + renderJson(v, reorder)).join(reorder ? ' ,\n ' : ',') + '}';
}

export const jsonTextArb = jsonDocArb.map((d) => renderJson(d));

/** Any value a column of any declared type may be given. */
export const valueArb: fc.Arbitrary<SqlValue> = fc.oneof(
  { arbitrary: fc.constant(null), weight: 2 },
  { arbitrary: textArb, weight: 3 },
  { arbitrary: fc.oneof(int64, nearSafe, smallInt), weight: 3 },
  { arbitrary: floatArb, weight: 2 },
  { arbitrary: blobArb, weight: 1 },
  { arbitrary: jsonTextArb, weight: 1 },
);

// ---------- tables ----------

export const DECLARED_TYPES = ['', 'INTEGER', 'INT', 'BIGINT', 'TEXT', 'VARCHAR(20)', 'REAL', 'DOUBLE', 'FLOAT', 'BLOB', 'NUMERIC', 'DECIMAL(10,2)', 'JSON', 'BOOLEAN', 'DATETIME'];
const COLUMN_NAMES = ['v', 'note', 'amount', 'data', 'x y', 'Mixed"Quote', 'é_col', 'flag'];

export interface ShapeOptions {
  minRows: number;
  maxRows: number;
  maxCols?: number;
  types?: string[];
  keyKinds?: KeyKind[];
}

export interface Shape {
  keyKind: KeyKind;
  withoutRowid: boolean;
  cols: ColumnSpec[];
  n: number;
}

export function shapeArb(o: ShapeOptions): fc.Arbitrary<Shape> {
  return fc.record({
    keyKind: fc.constantFrom<KeyKind>(...(o.keyKinds ?? ['int', 'text', 'int+text', 'unique-index', 'any'])),
    withoutRowid: fc.boolean(),
    cols: fc.uniqueArray(
      fc.record({ name: fc.constantFrom(...COLUMN_NAMES), type: fc.constantFrom(...(o.types ?? DECLARED_TYPES)), notNull: fc.constant(false) }),
      { minLength: 1, maxLength: o.maxCols ?? 4, selector: (c) => c.name.toLowerCase() },
    ),
    n: fc.integer({ min: o.minRows, max: o.maxRows }),
  });
}

function keyColumns(kind: KeyKind): ColumnSpec[] {
  switch (kind) {
    case 'int':
      return [{ name: 'id', type: 'INTEGER', notNull: true }];
    case 'text':
      return [{ name: 'code', type: 'TEXT', notNull: true }];
    case 'int+text':
      return [
        { name: 'grp', type: 'INTEGER', notNull: true },
        { name: 'name', type: 'TEXT', notNull: true },
      ];
    case 'unique-index':
      return [{ name: 'ref', type: 'INTEGER', notNull: true }];
    case 'any':
      return [{ name: 'k', type: '', notNull: false }];
  }
}

export function keyTupleArb(kind: KeyKind): fc.Arbitrary<SqlValue[]> {
  switch (kind) {
    case 'int':
    case 'unique-index':
      return fc.oneof(smallInt, int64, nearSafe).map((k) => [k]);
    case 'text':
      return textArb.map((k) => [k]);
    case 'int+text':
      return fc.tuple(fc.bigInt({ min: -3n, max: 3n }), textArb);
    case 'any':
      return fc.oneof(smallInt, int64, nearSafe, floatArb.filter((x) => !Number.isNaN(x)), textArb, blobArb).map((k) => [k]);
  }
}

/** A random table of this shape: unique keys, values of any kind in every column. */
export function tableArb(shape: Shape, table: string, values: (c: ColumnSpec) => fc.Arbitrary<SqlValue> = () => valueArb): fc.Arbitrary<TableSpec> {
  const keys = keyColumns(shape.keyKind);
  const row = fc.tuple(keyTupleArb(shape.keyKind), fc.tuple(...shape.cols.map(values)));
  return fc.uniqueArray(row, { minLength: shape.n, maxLength: shape.n, selector: ([k]) => keyString(k) }).map((rows) => ({
    table,
    keyKind: shape.keyKind,
    withoutRowid: shape.withoutRowid && shape.keyKind !== 'unique-index',
    keys,
    cols: shape.cols,
    rows: rows.map(([k, vs]) => {
      const r: Record<string, SqlValue> = {};
      keys.forEach((c, i) => (r[c.name] = k[i]!));
      shape.cols.forEach((c, i) => (r[c.name] = vs[i]!));
      return r;
    }),
  }));
}

/** A patch for some rows: a few columns get a new value (or their own value back). */
export function patchesArb(spec: TableSpec, o: { changeWeight?: number; values?: (c: ColumnSpec) => fc.Arbitrary<SqlValue> } = {}): fc.Arbitrary<(Patch | null)[]> {
  const values = o.values ?? (() => valueArb);
  const entry = fc.integer({ min: 0, max: spec.cols.length - 1 }).chain((i) =>
    fc.oneof({ arbitrary: values(spec.cols[i]!), weight: 5 }, { arbitrary: fc.constant<typeof SAME>(SAME), weight: 1 }).map((v) => [spec.cols[i]!.name, v] as const),
  );
  const patch = fc.array(entry, { minLength: 1, maxLength: spec.cols.length }).map((es) => Object.fromEntries(es) as Patch);
  return fc.array(fc.oneof({ arbitrary: fc.constant(null), weight: 2 }, { arbitrary: patch, weight: o.changeWeight ?? 3 }), { minLength: spec.rows.length, maxLength: spec.rows.length });
}

export function createTable(db: Database.Database, spec: TableSpec, o: { audit?: boolean } = {}): void {
  const cols = [...spec.keys, ...spec.cols];
  const colDefs = cols.map((c) => `${q(c.name)} ${c.type}${c.notNull ? ' NOT NULL' : ''}`.trimEnd());
  let tail = '';
  if (spec.keyKind === 'int') colDefs[0] = `${q('id')} INTEGER PRIMARY KEY`;
  else if (spec.keyKind !== 'unique-index') colDefs.push(`PRIMARY KEY (${spec.keys.map((k) => q(k.name)).join(', ')})`);
  if (spec.withoutRowid) tail = ' WITHOUT ROWID';
  db.exec(`CREATE TABLE ${q(spec.table)} (${colDefs.join(', ')})${tail}`);
  if (spec.keyKind === 'unique-index') db.exec(`CREATE UNIQUE INDEX ${q(spec.table + '_ref')} ON ${q(spec.table)} (${q('ref')})`);
  const ins = db.prepare(`INSERT INTO ${q(spec.table)} (${cols.map((c) => q(c.name)).join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`);
  db.transaction(() => {
    for (const r of spec.rows) ins.run(...cols.map((c) => bindable(r[c.name] ?? null)));
  })();
  if (o.audit) {
    // Counts committed writes per row: the trigger's write rolls back with the transaction that fired it.
    const a = auditTable(spec);
    const keyList = spec.keys.map((k) => q(k.name)).join(', ');
    db.exec(`CREATE TABLE ${q(a)} (${spec.keys.map((k) => `${q(k.name)} ${k.type}`).join(', ')}, n INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (${keyList}))`);
    db.exec(`INSERT INTO ${q(a)} (${keyList}) SELECT ${keyList} FROM ${q(spec.table)}`);
    db.exec(
      `CREATE TRIGGER ${q(spec.table + '_count_writes')} AFTER UPDATE ON ${q(spec.table)} FOR EACH ROW BEGIN
         UPDATE ${q(a)} SET n = n + 1 WHERE ${spec.keys.map((k) => `${q(k.name)} IS OLD.${q(k.name)}`).join(' AND ')};
       END`,
    );
  }
}

export const auditTable = (spec: TableSpec) => `${spec.table}_audit`;

export function bindable(v: SqlValue): unknown {
  return v instanceof Uint8Array && !Buffer.isBuffer(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : v;
}

/**
 * The same string for a key however it is held (SQLite's equality, exact between INTEGER and REAL): a
 * whole number as its exact digits whether bigint or number (2^60 and 2.0^60 are one key), bytes as
 * their list. The corrections' K is the same function.
 */
export function keyString(k: readonly unknown[]): string {
  return k.map(keyPart).join('\u0001');
}
const keyPart = (v: unknown): string =>
  typeof v === 'string'
    ? 's' + v
    : v instanceof Uint8Array
      ? 'b' + Array.from(v).join(',')
      : typeof v === 'number' && Number.isInteger(v)
        ? 'n' + BigInt(v).toString()
        : 'n' + String(v);

/** A key from the protocol's wire form ({col: WireValue}), in the table's key order. */
export function keyStringFromWire(spec: TableSpec, key: Record<string, unknown>): string {
  return keyString(spec.keys.map((c) => fromWire((key[c.name] ?? null) as WireValue)));
}

export interface ExactRow {
  key: string;
  /** column -> [storage class, value] */
  cells: Record<string, [string, unknown]>;
}

/** Every row in key order, every value exactly as stored (safe integers) with its storage class. */
export function readExact(db: Database.Database, spec: TableSpec): ExactRow[] {
  const cols = [...spec.keys, ...spec.cols];
  const sel = cols.map((c, i) => `${q(c.name)} AS v${i}, typeof(${q(c.name)}) AS t${i}`).join(', ');
  const rows = db
    .prepare(`SELECT ${sel} FROM ${q(spec.table)} ORDER BY ${spec.keys.map((k) => q(k.name)).join(', ')}`)
    .safeIntegers(true)
    .all() as Record<string, unknown>[];
  return rows.map((r) => ({
    key: keyString(spec.keys.map((_, i) => r['v' + i])),
    cells: Object.fromEntries(cols.map((c, i) => [c.name, [r['t' + i] as string, r['v' + i]]])),
  }));
}

/** Committed writes per row key, from the audit table. */
export function readAudit(db: Database.Database, spec: TableSpec): Map<string, number> {
  const keyList = spec.keys.map((k) => q(k.name)).join(', ');
  const rows = db.prepare(`SELECT ${keyList}, n FROM ${q(auditTable(spec))}`).safeIntegers(true).all() as Record<string, unknown>[];
  return new Map(rows.map((r) => [keyString(spec.keys.map((k) => r[k.name])), Number(r.n as bigint)]));
}

// ---------- corrections ----------

/** A JavaScript expression that evaluates to exactly this value (bigint, -0, NaN, bytes included). */
export function jsLiteral(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return 'NaN';
    if (Object.is(v, -0)) return '-0';
    if (v === Infinity) return 'Infinity';
    if (v === -Infinity) return '-Infinity';
    return String(v);
  }
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'boolean') return String(v);
  if (v instanceof Uint8Array) return `new Uint8Array([${[...v].join(',')}])`;
  throw new TypeError(`no literal for ${String(v)}`);
}

/** The row's patch with SAME resolved to the row's current value. */
export function resolvePatch(row: Record<string, SqlValue>, p: Patch): Record<string, SqlValue> {
  return Object.fromEntries(Object.entries(p).map(([c, v]) => [c, v === SAME ? (row[c] ?? null) : v]));
}

export interface CorrectionOptions {
  id: string;
  spec: TableSpec;
  /** Per row of spec.rows, in order; null: the transform returns {} for that row. */
  patches?: (Patch | null)[];
  /** Replaces the transform's body (the default applies the patches). */
  transform?: string;
  batchSize?: number;
}

/** Source of a correction whose transform returns the row's patch (by key), or a given transform. */
export function correctionSource(o: CorrectionOptions): string {
  const { spec } = o;
  const entries: string[] = [];
  (o.patches ?? []).forEach((p, i) => {
    if (!p) return;
    const row = spec.rows[i]!;
    const resolved = resolvePatch(row, p);
    const obj = Object.entries(resolved)
      .map(([c, v]) => `${JSON.stringify(c)}: ${jsLiteral(v)}`)
      .join(', ');
    entries.push(`[${JSON.stringify(keyString(spec.keys.map((k) => row[k.name])))}, { ${obj} }]`);
  });
  const keyExpr = `[${spec.keys.map((k) => `row[${JSON.stringify(k.name)}]`).join(', ')}]`;
  return `import { defineCorrection } from 'redress';
const P = new Map<string, Record<string, unknown>>([
${entries.join(',\n')}
]);
const K = (k: unknown[]) =>
  k
    .map((v) =>
      typeof v === 'string'
        ? 's' + v
        : v instanceof Uint8Array
          ? 'b' + Array.from(v).join(',')
          : typeof v === 'number' && Number.isInteger(v)
            ? 'n' + BigInt(v).toString()
            : 'n' + String(v),
    )
    .join('\\u0001');
export default defineCorrection<Record<string, any>>({
  id: ${JSON.stringify(o.id)},
  description: 'property test correction',
  target: { table: ${JSON.stringify(spec.table)}, key: ${JSON.stringify(spec.keys.map((k) => k.name))} },
  expects: {},
  transform: (row) => {
    ${o.transform ?? `return P.get(K(${keyExpr})) ?? {};`}
  },
  options: { ${o.batchSize ? `batchSize: ${o.batchSize}, ` : ''}quarantineThreshold: 1 },
});
`;
}

// ---------- running properties ----------

/**
 * fc.assert, but a failure reports the property's own error first (with its stack) and a counterexample
 * cut to a readable length. The seed and path it prints replay it: FC_SEED=… FC_PATH=… node scripts/test.mjs <file>.
 */
export async function assertProperty<Ts>(prop: fc.IAsyncPropertyWithHooks<Ts> | fc.IAsyncProperty<Ts>, params: fc.Parameters<Ts>): Promise<void> {
  const replay = process.env.FC_SEED ? { seed: Number(process.env.FC_SEED), path: process.env.FC_PATH } : {};
  const out = await fc.check(prop, { ...params, ...replay });
  if (!out.failed) return;
  const err = out.errorInstance as Error | undefined;
  const example = fc.stringify(out.counterexample).slice(0, 4000);
  const e = new Error(
    `Property failed after ${out.numRuns} run(s), shrunk ${out.numShrinks} time(s); replay with FC_SEED=${out.seed} FC_PATH=${out.counterexamplePath ?? ''}\n` +
      `${err?.stack ?? String(err)}\nCounterexample (cut to 4000 characters): ${example}`,
  );
  throw e;
}

/** A wire value (ledger, protocol) as readExact shows a stored value: [storage class, value]. */
export function exactFromWire(w: WireValue): [string, unknown] {
  const v = fromWire(w);
  if (v === null) return ['null', null];
  if (typeof v === 'bigint') return ['integer', v];
  if (typeof v === 'number') return ['real', v];
  if (typeof v === 'string') return ['text', v];
  if (v instanceof Uint8Array) return ['blob', Buffer.from(v.buffer, v.byteOffset, v.byteLength)];
  throw new TypeError(`no SQLite storage class for ${String(v)}`);
}

/**
 * The table a plan's changes leave: `original` with each planned row's after-values. Also checks that
 * every before-value in the plan is exactly what the table held (the before-images rollback restores).
 */
export function plannedAfterState(spec: TableSpec, original: ExactRow[], diffs: { key: Record<string, WireValue>; changes: Record<string, { before: WireValue; after: WireValue }> }[]): ExactRow[] {
  const byKey = new Map(diffs.map((r) => [keyStringFromWire(spec, r.key), r.changes]));
  return original.map((row) => {
    const ch = byKey.get(row.key);
    if (!ch) return row;
    const cells = { ...row.cells };
    for (const [col, { before, after }] of Object.entries(ch)) {
      assert.deepStrictEqual(exactFromWire(before), row.cells[col], `the plan's before-image of ${col} in row ${JSON.stringify(row.key)} is what the table held`);
      cells[col] = exactFromWire(after);
    }
    return { key: row.key, cells };
  });
}
