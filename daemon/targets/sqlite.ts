// An SQLite file as the target ("production" for the embedded default, and local snapshots).
import Database from 'better-sqlite3';
import { sqliteOptions } from '../sqliteBinding';
import { RedressError } from '../../shared/errors';
import { canonical, canonicalJson, sha256, type StoredValue } from '../../shared/values';
import { schemaDrift } from './schemaDrift';
import { ValueFitError, type CasOutcome, type CasWrite, type Column, type KeyTuple, type Scan, type StoredRow, type TableSchema, type Target } from './target';

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

export class SqliteTarget implements Target {
  readonly kind = 'sqlite' as const;
  readonly description: string;
  private readonly db: Database.Database;
  /** In-memory scratch database: SQLite itself tells what a value becomes in a column. */
  private readonly scratch = new Database(':memory:', sqliteOptions());
  private readonly stmtCache = new Map<string, Database.Statement>();

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
    const cols = schema.columns.map((c) => q(c.name)).join(', ');
    const keyList = scan.key.map(q).join(', ');
    const tuple = scan.key.length > 1 ? `(${keyList})` : keyList;
    const marks = scan.key.length > 1 ? `(${scan.key.map(() => '?').join(', ')})` : '?';
    const sql = `SELECT ${cols} FROM ${q(scan.table)}${this.whereClause(scan, after ? `${tuple} > ${marks}` : undefined)} ORDER BY ${keyList} LIMIT ?`;
    return this.stmt(sql).all(...(after ? after.map(bindable) : []), limit) as StoredRow[];
  }

  async readKeys(scan: Scan, schema: TableSchema, keys: KeyTuple[]): Promise<(StoredRow | undefined)[]> {
    const s = this.keyLookup(scan, schema);
    return keys.map((k) => s.get(...k.map(bindable)) as StoredRow | undefined);
  }

  private keyLookup(scan: Scan, schema: TableSchema): Database.Statement {
    const cols = schema.columns.map((c) => q(c.name)).join(', ');
    return this.stmt(`SELECT ${cols} FROM ${q(scan.table)} WHERE ${scan.key.map((k) => `${q(k)} IS ?`).join(' AND ')}`);
  }

  async sample(scan: Scan, schema: TableSchema, n: number, seed: number): Promise<StoredRow[]> {
    const cols = schema.columns.map((c) => q(c.name)).join(', ');
    const keyList = scan.key.map(q).join(', ');
    // Seeded uniform sample: order by a hash of (seed, key), then show the sample in key order.
    const sql = `SELECT * FROM (SELECT ${cols} FROM ${q(scan.table)}${this.whereClause(scan)} ORDER BY redress_sample(?, ${keyList}) LIMIT ?) ORDER BY ${keyList}`;
    return this.stmt(sql).all(seed, n) as StoredRow[];
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

  async casWrite(scan: Scan, schema: TableSchema, writes: CasWrite[], hashRow: (row: StoredRow) => string): Promise<CasOutcome[]> {
    const lookup = this.keyLookup(scan, schema);
    const run = this.db.transaction((): CasOutcome[] => {
      // Checked inside the write transaction: nothing can change the schema until we commit.
      const now = this.tableSchemaSync(scan.table);
      if (now.fingerprint !== schema.fingerprint) throw schemaDrift(schema, now);
      return writes.map((w) => {
        const current = lookup.get(...w.key.map(bindable)) as StoredRow | undefined;
        if (!current) return 'missing';
        const h = hashRow(current);
        if (h === w.doneHash) return 'already';
        if (h !== w.expectHash) return 'drifted';
        const setCols = Object.keys(w.set);
        const upd = this.stmt(`UPDATE ${q(scan.table)} SET ${setCols.map((c) => `${q(c)} = ?`).join(', ')} WHERE ${scan.key.map((k) => `${q(k)} IS ?`).join(' AND ')}`);
        upd.run(...setCols.map((c) => bindable(w.set[c])), ...w.key.map(bindable));
        return 'written';
      });
    });
    return run.immediate();
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

function sameSet(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

function bindable(v: StoredValue): unknown {
  if (v instanceof Uint8Array && !Buffer.isBuffer(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (typeof v === 'boolean') return v ? 1n : 0n;
  if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) return v.toString();
  return v;
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
