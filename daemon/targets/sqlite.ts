// An SQLite file as the target ("production" for the embedded default, and local snapshots).
import Database from 'better-sqlite3';
import { sqliteOptions } from '../sqliteBinding';
import { RedressError } from '../../shared/errors';
import { canonical, canonicalJson, sha256, type StoredValue } from '../../shared/values';
import { schemaDrift } from './schemaDrift';
import { bindable, sliceSql } from '../engine/nativePlan';
import { ValueFitError, type Column, type KeyTuple, type NativeBatch, type NativeBatchResult, type NativePlanRef, type Scan, type StoredRow, type TableSchema, type Target } from './target';

const q = (name: string) => '"' + name.replace(/"/g, '""') + '"';

/** SQLite's column affinity rules (https://www.sqlite.org/datatype3.html, section 3.1). */
export function affinity(declared: string): 'INTEGER' | 'TEXT' | 'BLOB' | 'REAL' | 'NUMERIC' {
  const t = declared.toUpperCase();
  if (t.includes('INT')) return 'INTEGER';
  if (t.includes('CHAR') || t.includes('CLOB') || t.includes('TEXT')) return 'TEXT';
  if (t === '' || t.includes('BLOB')) return 'BLOB';
  if (t.includes('REAL') || t.includes('FLOA') || t.includes('DOUB')) return 'REAL';
  return 'NUMERIC';
}

const isJsonColumn = (c: Column) => /JSON/i.test(c.type);

/**
 * A row's token (the plan's before and after hashes, what verify compares), computed by SQLite itself
 * while reading, one part per column: text as 'T' and the hex
 * of its bytes (quote() stops at the first NUL, so 'a' and 'a\0b' would look alike), everything else
 * through quote(), which keeps the storage class (5 and 5.0 differ), NULL apart from '', reals to 17
 * digits, blobs as X'..'. No part holds a comma, so the joined token is unambiguous. Apply and rollback
 * compare the columns themselves (sameValue), not tokens.
 */
export function tokenExpr(columns: Column[], alias = ''): string {
  const a = alias ? `${alias}.` : '';
  return columns
    .map((c) => {
      const col = `${a}${q(c.name)}`;
      const text = `WHEN 'text' THEN 'T' || hex(${col})`;
      // quote() prints -0.0 as 0.0; atan2 tells the zeros apart. TEXT columns never hold a real.
      return affinity(c.type) === 'TEXT'
        ? `CASE typeof(${col}) ${text} ELSE quote(${col}) END`
        : `CASE typeof(${col}) ${text} WHEN 'real' THEN quote(${col}) || CASE WHEN ${col} = 0 AND atan2(${col}, -1) < 0 THEN '-' ELSE '' END ELSE quote(${col}) END`;
    })
    .join(` || ',' || `);
}

/** SQLite's limit on bound parameters in one statement (SQLITE_MAX_VARIABLE_NUMBER since 3.32). */
const MAX_PARAMS = 32766;

export class SqliteTarget implements Target {
  readonly kind = 'sqlite' as const;
  readonly description: string;
  private readonly db: Database.Database;
  /** In-memory scratch database: SQLite itself tells what a value becomes in a column. */
  private readonly scratch = new Database(':memory:', sqliteOptions());
  private readonly stmtCache = new Map<string, Database.Statement>();
  /** The token of each row this target read, computed by SQLite in the same SELECT. */
  private readonly tokens = new WeakMap<StoredRow, string>();

  constructor(readonly path: string, opts: { readonly?: boolean } = {}) {
    this.description = `sqlite:${path}`;
    try {
      this.db = new Database(path, { ...sqliteOptions(), fileMustExist: true, readonly: opts.readonly ?? false, timeout: 5000 });
    } catch (e) {
      throw new RedressError('TARGET', `Cannot open the SQLite target ${path}: ${(e as Error).message}. Check the path in redress.config.json.`);
    }
    this.db.defaultSafeIntegers(true);
    this.scratch.defaultSafeIntegers(true);
    this.db.function('redress_sample', { deterministic: true, varargs: true }, (...args: unknown[]) => sampleHash(args));
  }

  private stmt(sql: string): Database.Statement {
    let s = this.stmtCache.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.stmtCache.set(sql, s);
    }
    return s;
  }

  async listTables(): Promise<string[]> {
    return (this.db.prepare(`SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name`).all() as { name: string }[]).map((r) => r.name);
  }

  async tableSchema(table: string): Promise<TableSchema> {
    return this.tableSchemaSync(table);
  }

  private tableSchemaSync(table: string): TableSchema {
    const info = this.db.prepare(`SELECT name, type, "notnull" AS nn, pk FROM pragma_table_info(?)`).all(table) as {
      name: string;
      type: string;
      nn: bigint;
      pk: bigint;
    }[];
    if (info.length === 0) {
      const tables = (this.db.prepare(`SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name`).all() as { name: string }[]).map((r) => r.name);
      throw new RedressError('NO_TABLE', `Table "${table}" does not exist in ${this.path}. Tables there: ${tables.join(', ') || '(none)'}.`, { table, tables });
    }
    const columns: Column[] = info.map((c) => ({ name: c.name, type: c.type, notNull: c.nn === 1n || (c.pk > 0n && /^INTEGER$/i.test(c.type)) }));
    const uniqueKeys: string[][] = [];
    const pk = info.filter((c) => c.pk > 0n).sort((a, b) => Number(a.pk - b.pk)).map((c) => c.name);
    if (pk.length) uniqueKeys.push(pk);
    const indexes = this.db.prepare(`SELECT name, "unique" AS u, partial FROM pragma_index_list(?)`).all(table) as { name: string; u: bigint; partial: bigint }[];
    for (const ix of indexes) {
      if (ix.u !== 1n || ix.partial === 1n) continue;
      const cols = (this.db.prepare(`SELECT name FROM pragma_index_info(?) ORDER BY seqno`).all(ix.name) as { name: string | null }[]).map((r) => r.name);
      if (cols.every((c): c is string => c !== null) && !uniqueKeys.some((k) => sameSet(k, cols as string[]))) uniqueKeys.push(cols as string[]);
    }
    const fingerprint = sha256(JSON.stringify({ table, columns: columns.map((c) => [c.name, c.type.toUpperCase(), c.notNull]), uniqueKeys: uniqueKeys.map((k) => [...k].sort()).sort() }));
    return { table, columns, uniqueKeys, fingerprint };
  }

  private whereClause(scan: Scan, extra?: string): string {
    const parts = [scan.where ? `(${scan.where})` : '', extra ?? ''].filter(Boolean);
    return parts.length ? ' WHERE ' + parts.join(' AND ') : '';
  }

  async countRows(scan: Scan): Promise<number> {
    return Number((this.stmt(`SELECT count(*) AS n FROM ${q(scan.table)}${this.whereClause(scan)}`).get() as { n: bigint }).n);
  }

  async nullKeyRows(scan: Scan): Promise<number> {
    const cond = scan.key.map((k) => `${q(k)} IS NULL`).join(' OR ');
    return Number((this.stmt(`SELECT count(*) AS n FROM ${q(scan.table)} WHERE ${cond}`).get() as { n: bigint }).n);
  }

  async readRange(scan: Scan, schema: TableSchema, after: KeyTuple | null, limit: number): Promise<StoredRow[]> {
    const keyList = scan.key.map(q).join(', ');
    const tuple = scan.key.length > 1 ? `(${keyList})` : keyList;
    const marks = scan.key.length > 1 ? `(${scan.key.map(() => '?').join(', ')})` : '?';
    const sql = `SELECT ${this.selectList(schema)} FROM ${q(scan.table)}${this.whereClause(scan, after ? `${tuple} > ${marks}` : undefined)} ORDER BY ${keyList} LIMIT ?`;
    return this.rowsOf(schema, this.readStmt(sql).all(...(after ? after.map(bindable) : []), limit) as unknown[][]);
  }

  async readKeys(scan: Scan, schema: TableSchema, keys: KeyTuple[]): Promise<(StoredRow | undefined)[]> {
    const s = this.readStmt(`SELECT ${this.selectList(schema)} FROM ${q(scan.table)} WHERE ${scan.key.map((k) => `${q(k)} IS ?`).join(' AND ')}`);
    return keys.map((k) => {
      const r = s.get(...k.map(bindable)) as unknown[] | undefined;
      return r ? this.rowsOf(schema, [r])[0] : undefined;
    });
  }

  /** Every column, then the row's token. */
  private selectList(schema: TableSchema): string {
    return `${schema.columns.map((c) => q(c.name)).join(', ')}, ${tokenExpr(schema.columns)}`;
  }

  private readStmt(sql: string): Database.Statement {
    const key = 'raw:' + sql;
    let st = this.stmtCache.get(key);
    if (!st) {
      st = this.db.prepare(sql).raw(true);
      this.stmtCache.set(key, st);
    }
    return st;
  }

  /** Rows from raw arrays (columns, then token); the token is remembered for rowTokens. */
  private rowsOf(schema: TableSchema, raw: unknown[][]): StoredRow[] {
    const cols = schema.columns;
    return raw.map((a) => {
      const row: StoredRow = {};
      for (let i = 0; i < cols.length; i++) row[cols[i]!.name] = a[i] as StoredValue;
      this.tokens.set(row, a[cols.length] as string);
      return row;
    });
  }

  rowTokens(schema: TableSchema, rows: StoredRow[]): string[] {
    const out: string[] = new Array(rows.length);
    const missing: number[] = [];
    rows.forEach((r, i) => {
      const t = this.tokens.get(r);
      if (t === undefined) missing.push(i);
      else out[i] = t;
    });
    if (missing.length) {
      // Rows the engine built (after-states): SQLite computes their tokens from the same values.
      const cols = schema.columns;
      const perRow = cols.length;
      // Fixed-size statements (and one for the tail), so a batch reuses prepared statements.
      const chunk = Math.max(1, Math.min(256, Math.floor(MAX_PARAMS / perRow)));
      for (let start = 0; start < missing.length; start += chunk) {
        const part = missing.slice(start, start + chunk);
        const values = part.map(() => `(${cols.map(() => '?').join(', ')})`).join(', ');
        const names = cols.map((_, i) => `c${i}`);
        const sql = `WITH v(${names.join(', ')}) AS (VALUES ${values}) SELECT ${tokenExpr(cols.map((c, i) => ({ ...c, name: names[i]! })), 'v')} FROM v`;
        const args: unknown[] = [];
        for (const i of part) for (const c of cols) args.push(bindable(rows[i]![c.name] ?? null));
        let st = this.tokenStmts.get(sql);
        if (!st) {
          st = this.scratch.prepare(sql).raw(true);
          this.tokenStmts.set(sql, st);
        }
        const toks = st.all(...args) as [string][];
        part.forEach((i, j) => (out[i] = toks[j]![0]));
      }
    }
    return out;
  }

  async sample(scan: Scan, schema: TableSchema, n: number, seed: number): Promise<StoredRow[]> {
    const keyList = scan.key.map(q).join(', ');
    // Seeded uniform sample: order by a hash of (seed, key), then show the sample in key order.
    const sql = `SELECT * FROM (SELECT ${this.selectList(schema)} FROM ${q(scan.table)}${this.whereClause(scan)} ORDER BY redress_sample(?, ${keyList}) LIMIT ?) ORDER BY ${keyList}`;
    return this.rowsOf(schema, this.readStmt(sql).all(seed, n) as unknown[][]);
  }

  toFriendly(_column: Column, v: StoredValue): unknown {
    if (typeof v === 'bigint' && v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
    return v;
  }

  async normalize(schema: TableSchema, rows: Record<string, unknown>[]): Promise<(StoredRow | ValueFitError)[]> {
    const byName = new Map(schema.columns.map((c) => [c.name, c]));
    const cols = schema.columns;
    // A table with the same declared types, no constraints: what SQLite stores there it stores in the target.
    const key = 'norm:' + cols.map((c) => c.type).join('\u0000');
    let ins = this.scratchStmts.get(key);
    if (!ins) {
      this.scratch.exec(`DROP TABLE IF EXISTS norm; CREATE TABLE norm (${cols.map((c, i) => `c${i} ${c.type.replace(/[^A-Za-z0-9_ (),]/g, '')}`).join(', ')})`);
      ins = {
        insert: this.scratch.prepare(`INSERT INTO norm VALUES (${cols.map(() => '?').join(', ')}) RETURNING *`),
      };
      this.scratchStmts.clear();
      this.scratchStmts.set(key, ins);
    }
    const out: (StoredRow | ValueFitError)[] = [];
    for (const row of rows) {
      const args: unknown[] = [];
      const unknownColumn = Object.keys(row).find((name) => !byName.has(name));
      let err = unknownColumn === undefined ? undefined : new ValueFitError(unknownColumn, `column "${unknownColumn}" does not exist in ${schema.table}`);
      for (const c of err ? [] : cols) {
        if (!(c.name in row)) {
          args.push(null);
          continue;
        }
        try {
          args.push(toBindable(c, row[c.name]));
        } catch (e) {
          err = new ValueFitError(c.name, `column "${c.name}" (${c.type || 'no type'}): ${(e as Error).message}`);
          break;
        }
      }
      if (err) {
        out.push(err);
        continue;
      }
      const stored = ins.insert.get(...args) as Record<string, StoredValue>;
      const result: StoredRow = {};
      cols.forEach((c, i) => {
        if (c.name in row) result[c.name] = stored['c' + i];
      });
      out.push(result);
    }
    this.scratch.exec('DELETE FROM norm');
    return out;
  }
  private readonly scratchStmts = new Map<string, { insert: Database.Statement }>();
  private readonly tokenStmts = new Map<string, Database.Statement>();

  typeMatches(column: Column, expected: string): boolean {
    const a = affinity(column.type);
    switch (expected) {
      case 'any':
        return true;
      case 'text':
        return a === 'TEXT' || a === 'BLOB';
      case 'integer':
      case 'boolean':
        return a === 'INTEGER' || a === 'NUMERIC' || a === 'BLOB';
      case 'real':
        return a === 'REAL' || a === 'NUMERIC' || a === 'BLOB';
      case 'numeric':
        return a !== 'TEXT';
      case 'blob':
        return a === 'BLOB';
      case 'json':
        return isJsonColumn(column) || a === 'TEXT' || a === 'BLOB';
      case 'date':
      case 'timestamp':
        return a === 'TEXT' || a === 'NUMERIC' || a === 'BLOB' || /DATE|TIME/i.test(column.type);
      default:
        return false;
    }
  }

  canonical(column: Column, v: StoredValue): string {
    if (typeof v === 'string' && isJsonColumn(column)) {
      try {
        return 'j' + canonicalJson(v);
      } catch {
        return canonical(v);
      }
    }
    return canonical(v);
  }

  private readonly attached = new Map<string, { alias: string; masks: number[][]; skip?: number[] }>();
  private attachments = 0;

  /**
   * One batch of a native plan (engine/nativePlan.ts), attached to this connection: per set of changed
   * columns, one UPDATE ... FROM the plan's rows whose WHERE compares every column of the row with the
   * state the plan expects, natively (same value and storage class, -0.0 apart from 0.0, text byte for
   * byte). Only when fewer rows matched than the batch holds are its rows looked at one by one.
   */
  async nativeBatch(plan: NativePlanRef, scan: Scan, schema: TableSchema, b: NativeBatch): Promise<NativeBatchResult> {
    const a = this.attach(plan);
    if (b.skip && a.skip !== b.skip) {
      this.db.exec(`CREATE TEMP TABLE IF NOT EXISTS ${a.alias}_skip (seq INTEGER PRIMARY KEY); DELETE FROM temp.${a.alias}_skip`);
      const ins = this.db.prepare(`INSERT INTO temp.${a.alias}_skip VALUES (?)`);
      this.db.transaction(() => b.skip!.forEach((seq) => ins.run(seq)))();
      a.skip = b.skip;
    }
    const slice = sliceSql(b.slice);
    const cond = `${slice.sql}${b.skip?.length ? ` AND p.seq NOT IN (SELECT seq FROM temp.${a.alias}_skip)` : ''}`;
    const bounds = this.stmt(`SELECT max(seq) AS last, count(*) AS n FROM (SELECT p.seq FROM ${a.alias}.cas AS p WHERE p.seq > ? AND ${cond} ORDER BY p.seq LIMIT ?)`).get(
      b.afterSeq,
      ...slice.params,
      b.limit,
    ) as { last: bigint | null; n: bigint };
    if (bounds.last === null) return { scannedTo: null, rows: 0, exceptions: [] };
    const last = Number(bounds.last);
    const n = Number(bounds.n);
    const args = [b.afterSeq, last, ...slice.params];
    const range = `p.seq > ? AND p.seq <= ? AND ${cond}`;
    const t = q(scan.table);
    const keyMatch = scan.key.map((k, i) => `t.${q(k)} ${schema.columns.find((c) => c.name === k)?.notNull ? '=' : 'IS'} p.k${i}`).join(' AND ');
    const col = (j: number) => schema.columns[j]!;
    // The state a row has before and after this batch's write, per column, for one set of changed columns.
    const state = (mask: number[], which: 'before' | 'after') => (j: number) => (which === 'after' && mask.includes(j) ? `p.a${j}` : `p.b${j}`);
    const from = b.direction === 'apply' ? 'before' : 'after';
    const to = b.direction === 'apply' ? 'after' : 'before';
    const rowIs = (mask: number[], which: 'before' | 'after') => schema.columns.map((_, j) => sameValue(`t.${q(col(j).name)}`, state(mask, which)(j), col(j))).join(' AND ');
    const updates = a.masks.map((mask, id) =>
      this.stmt(
        `UPDATE main.${t} AS t SET ${mask.map((j) => `${q(col(j).name)} = ${state(mask, to)(j)}`).join(', ')} FROM ${a.alias}.cas AS p WHERE ${range} AND p.mask = ${id} AND ${keyMatch} AND ${rowIs(mask, from)}`,
      ),
    );
    const exceptions: NativeBatchResult['exceptions'] = [];
    const mismatch = new Error('not every row matched');
    const write = () => {
      let changed = 0;
      for (const u of updates) changed += u.run(...args).changes;
      return changed;
    };
    this.db
      .transaction(() => {
        this.checkFingerprint(schema);
        try {
          this.db.transaction(() => {
            if (write() !== n) throw mismatch;
          })();
          return;
        } catch (e) {
          if (e !== mismatch) throw e;
        }
        // Some rows moved on: say which; the UPDATEs then write exactly the rows still as planned.
        a.masks.forEach((mask, id) => {
          const exists = (extra: string) => `EXISTS (SELECT 1 FROM main.${t} AS t WHERE ${keyMatch}${extra})`;
          const classify = this.stmt(
            `SELECT p.seq AS seq, ${exists('')} AS present, ${exists(` AND ${rowIs(mask, from)}`)} AS expected, ${exists(` AND ${rowIs(mask, to)}`)} AS done FROM ${a.alias}.cas AS p WHERE ${range} AND p.mask = ${id}`,
          );
          for (const r of classify.all(...args) as { seq: bigint; present: bigint; expected: bigint; done: bigint }[]) {
            if (r.expected === 1n) continue;
            exceptions.push({ seq: Number(r.seq), outcome: r.present === 0n ? 'missing' : r.done === 1n ? 'already' : 'drifted' });
          }
        });
        write();
      })
      .immediate();
    return { scannedTo: last, rows: n, exceptions: exceptions.sort((x, y) => x.seq - y.seq) };
  }

  private readonly fingerprintAt = new Map<string, bigint>();

  /**
   * Throws SCHEMA_DRIFT when the table no longer has the schema's fingerprint. Inside a write
   * transaction, once per batch: the schema cookie, which SQLite changes on every schema change by any
   * connection, says whether the last check still holds, so the catalog is read again only then.
   */
  private checkFingerprint(schema: TableSchema): void {
    const cookie = (this.stmt('SELECT schema_version AS v FROM pragma_schema_version').get() as { v: bigint }).v;
    if (this.fingerprintAt.get(schema.fingerprint) === cookie) return;
    const now = this.tableSchemaSync(schema.table);
    if (now.fingerprint !== schema.fingerprint) throw schemaDrift(schema, now);
    this.fingerprintAt.set(schema.fingerprint, cookie);
  }

  private attach(plan: NativePlanRef): { alias: string; masks: number[][]; skip?: number[] } {
    let a = this.attached.get(plan.id);
    if (!a) {
      const alias = `redress_plan_${++this.attachments}`;
      this.db.prepare(`ATTACH ? AS ${alias}`).run(plan.path);
      const masks: number[][] = [];
      for (const r of this.db.prepare(`SELECT id, columns FROM ${alias}.masks ORDER BY id`).all() as { id: bigint; columns: string }[]) masks[Number(r.id)] = JSON.parse(r.columns) as number[];
      a = { alias, masks };
      this.attached.set(plan.id, a);
    }
    return a;
  }

  async releaseNative(plan: NativePlanRef): Promise<void> {
    const a = this.attached.get(plan.id);
    if (!a) return;
    this.attached.delete(plan.id);
    for (const sql of [...this.stmtCache.keys()]) if (sql.includes(a.alias)) this.stmtCache.delete(sql);
    this.db.exec(`DROP TABLE IF EXISTS temp.${a.alias}_skip`);
    this.db.exec(`DETACH ${a.alias}`);
  }

  /** For tests and the demo: run SQL on the target directly. */
  raw(): Database.Database {
    return this.db;
  }

  async close(): Promise<void> {
    this.db.close();
    this.scratch.close();
  }
}

/**
 * Whether a stored value equals the one a plan holds (taken from the same column): the same value byte
 * for byte (BINARY, whatever the column's collation), the same storage class (5 is not 5.0), and a real
 * zero of the same sign. Never NULL, so NOT and EXISTS read it plainly. A column with TEXT, INTEGER,
 * REAL or NUMERIC affinity converts what it stores so that IS alone says all of it: text never shares
 * a value with a number there, an integral real is stored as an integer (NUMERIC, INTEGER) or every
 * number as a real (REAL), and -0.0 loses its sign. Only a column without affinity (untyped, BLOB; ANY
 * in a STRICT table) keeps 5 apart from 5.0 and -0.0 apart from 0.0, and needs the longer test.
 * test/regressions/changes-that-sql-equality-misses-are-drifted.test.ts pins each case.
 */
function sameValue(x: string, y: string, c: Column): string {
  const same = `${x} IS ${y} COLLATE BINARY`;
  if (affinity(c.type) !== 'BLOB' && !/^\s*ANY\s*$/i.test(c.type)) return `(${same})`;
  return `(${same} AND typeof(${x}) = typeof(${y}) AND (typeof(${x}) <> 'real' OR ${x} <> 0 OR atan2(${x}, -1) = atan2(${y}, -1)))`;
}

function sameSet(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Whether SQLite can store this whole number as an INTEGER (a 64-bit signed integer). */
function fitsInt64(v: bigint | number): boolean {
  return typeof v === 'bigint' ? v >= INT64_MIN && v <= INT64_MAX : v >= -(2 ** 63) && v < 2 ** 63;
}

/** A value from a transform, as better-sqlite3 can bind it; throws with the reason it does not fit. */
function toBindable(c: Column, v: unknown): unknown {
  if (v === null || v === undefined) {
    if (c.notNull) throw new Error('NULL in a NOT NULL column');
    return null;
  }
  switch (typeof v) {
    case 'string':
      return v;
    case 'bigint':
      if (!fitsInt64(v)) throw new Error(`${v} is outside the 64-bit range of SQLite integers`);
      return v;
    case 'boolean':
      return v ? 1n : 0n;
    case 'number':
      // SQLite has no NaN: it would store NULL, which is not the value the transform returned.
      if (Number.isNaN(v)) throw new Error('NaN cannot be stored (SQLite would store NULL instead)');
      // better-sqlite3 binds every number as REAL; a whole number in a column without affinity
      // is meant as an integer, as it would be in SQL — if it fits in 64 bits (SQL reads a larger
      // integer literal as REAL too).
      if (Number.isInteger(v) && !Object.is(v, -0) && affinity(c.type) === 'BLOB' && fitsInt64(v)) return BigInt(v);
      return v;
    case 'object':
      if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
      if (isJsonColumn(c)) return JSON.stringify(v);
      if (v instanceof Date) throw new Error(`got a Date; return a string such as ${JSON.stringify(v.toISOString())}`);
      throw new Error(`got an object; return a string, number, bigint, boolean, Uint8Array or null`);
    default:
      throw new Error(`got a ${typeof v}; return a string, number, bigint, boolean, Uint8Array or null`);
  }
}

/** FNV-1a over the canonical key, mixed with the seed: a stable, well-spread sampling order. */
function sampleHash(args: unknown[]): bigint {
  let h = 0x811c9dc5 ^ Number(args[0]);
  for (let i = 1; i < args.length; i++) {
    const s = canonical(args[i] as StoredValue);
    for (let j = 0; j < s.length; j++) {
      h ^= s.charCodeAt(j);
      h = Math.imul(h, 0x01000193);
    }
    h ^= 0xff;
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return BigInt(h >>> 0);
}
