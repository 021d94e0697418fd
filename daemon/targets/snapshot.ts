// Local snapshots of a PostgreSQL table: a seeded sample of rows in a SQLite file, for fast previews
// that never touch production rows.
//
// The file holds one table named like the source, with:
//   - the source's columns in SQLite's natural types (so a correction's select.where mostly works there,
//     and people can look at the rows with any SQLite tool);
//   - __row: the exact stored values as wire JSON (shared/values.ts), which is what the snapshot target
//     reads: numeric, timestamps, int8, jsonb, arrays, bytes come back exactly as PostgreSQL gave them;
//   - __ord: the row's position in key order on the source; __key: its canonical key (unique).
// and a table redress_snapshot with the source's description, schema (with PostgreSQL types),
// fingerprint, the sampling parameters and the masked columns.
//
// SnapshotTarget presents those rows exactly as the PostgreSQL target would (same stored values, same
// view for the transform, same canonical form), so a preview on a snapshot gives the diffs a preview on
// the source gives for the same rows. What a transform returns is normalized by the source server
// (the only exact authority on what PostgreSQL stores); no row is read from it for that.
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { RedressError } from '../../shared/errors';
import { canonical, fromWire, JsonText, toWire, TypedText, type StoredValue, type WireValue } from '../../shared/values';
import { sqliteOptions } from '../sqliteBinding';
import { pgCanonical, pgFriendly, pgTypeMatches, type PgTypeInfo } from './pgTypes';
import { PostgresTarget, q } from './postgres';
import { schemaDrift } from './schemaDrift';
import type { CasOutcome, Column, KeyTuple, Scan, StoredRow, TableSchema, Target, ValueFitError } from './target';

export const SNAPSHOT_FORMAT = 'redress-snapshot/1';

export interface MaskRule {
  column: string;
  /** hash: a stable stand-in of the same type (equal inputs stay equal); redact: NULL, or a placeholder in a NOT NULL column. */
  how: 'hash' | 'redact';
}

export interface SnapshotOptions {
  table: string;
  rows: number;
  seed: number;
  /** Sample within each value of this column in proportion to its size, every value represented. */
  stratifyBy?: string;
  /** SQL condition on the source table: only matching rows are sampled. */
  where?: string;
  mask: MaskRule[];
  /** The SQLite file to write (replaced atomically). */
  output: string;
}

export interface SnapshotInfo {
  format: string;
  source: string;
  table: string;
  schema: TableSchema;
  types: Record<string, PgTypeInfo>;
  key: string[];
  seed: number;
  stratifyBy: string | null;
  where: string | null;
  masked: MaskRule[];
  rows: number;
  sourceRows: number;
  createdAt: string;
}

/** Takes a snapshot of a PostgreSQL table into a SQLite file; returns what it recorded. */
export async function takeSnapshot(source: PostgresTarget, o: SnapshotOptions): Promise<SnapshotInfo> {
  const schema = await source.tableSchema(o.table);
  const types = source.columnTypesOf(o.table);
  const key = schema.uniqueKeys.find((k) => k.every((c) => schema.columns.find((x) => x.name === c)?.notNull)) ?? schema.uniqueKeys[0];
  if (!key) {
    throw new RedressError('NO_UNIQUE_KEY', `Table "${o.table}" has no primary key or unique index; a snapshot needs one to address rows. Add a unique index first.`);
  }
  const byName = new Map(schema.columns.map((c) => [c.name, c]));
  for (const m of o.mask) {
    if (!byName.has(m.column)) throw new RedressError('NO_COLUMN', `Cannot mask "${m.column}": "${o.table}" has no such column. Columns there: ${schema.columns.map((c) => c.name).join(', ')}.`);
    if (key.includes(m.column)) throw new RedressError('CONFIG', `Cannot mask "${m.column}": it is part of the key [${key.join(', ')}] that addresses rows. Mask other columns.`);
  }
  if (o.stratifyBy && !byName.has(o.stratifyBy)) throw new RedressError('NO_COLUMN', `Cannot stratify by "${o.stratifyBy}": "${o.table}" has no such column.`);

  const scan: Scan = { table: o.table, key, ...(o.where ? { where: o.where } : {}) };
  let sourceRows: number;
  try {
    sourceRows = await source.countRows(scan);
  } catch (e) {
    throw new RedressError('CONFIG', `--where is not a valid condition on "${o.table}": ${(e as Error).message}.`);
  }
  const rows = o.stratifyBy ? await source.sampleStratified(scan, schema, o.rows, o.seed, o.stratifyBy) : await source.sample(scan, schema, o.rows, o.seed);
  const masks = new Map(o.mask.map((m) => [m.column, m.how]));
  const masked = rows.map((r) => {
    const out: StoredRow = { ...r };
    for (const [col, how] of masks) out[col] = maskValue(types[col]!, byName.get(col)!, r[col] ?? null, how);
    return out;
  });

  const info: SnapshotInfo = {
    format: SNAPSHOT_FORMAT,
    source: source.description,
    table: o.table,
    schema,
    types,
    key,
    seed: o.seed,
    stratifyBy: o.stratifyBy ?? null,
    where: o.where ?? null,
    masked: o.mask,
    rows: masked.length,
    sourceRows,
    createdAt: new Date().toISOString(),
  };
  writeSnapshotFile(o.output, info, masked);
  return info;
}

function writeSnapshotFile(path: string, info: SnapshotInfo, rows: StoredRow[]): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  const db = new Database(tmp, sqliteOptions());
  try {
    const cols = info.schema.columns;
    db.exec(`CREATE TABLE redress_snapshot (format TEXT NOT NULL, info TEXT NOT NULL)`);
    db.prepare('INSERT INTO redress_snapshot VALUES (?, ?)').run(info.format, JSON.stringify(info));
    db.exec(
      `CREATE TABLE ${q(info.table)} (${cols.map((c) => `${q(c.name)} ${sqliteType(info.types[c.name]!)}`).join(', ')}, __row TEXT NOT NULL, __ord INTEGER NOT NULL UNIQUE, __key TEXT NOT NULL UNIQUE)`,
    );
    const ins = db.prepare(`INSERT INTO ${q(info.table)} VALUES (${cols.map(() => '?').join(', ')}, ?, ?, ?)`);
    db.transaction(() => {
      rows.forEach((r, i) => {
        const wire = Object.fromEntries(cols.map((c) => [c.name, toWire(r[c.name] ?? null)]));
        ins.run(...cols.map((c) => natural(r[c.name] ?? null)), JSON.stringify(wire), i, keyString(info.key.map((k) => r[k] ?? null)));
      });
    })();
    db.close();
    renameSync(tmp, path);
  } catch (e) {
    if (db.open) db.close();
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** SQLite's natural type for a PostgreSQL column (what select.where sees on a snapshot). */
function sqliteType(t: PgTypeInfo): string {
  if (['int2', 'int4', 'int8', 'bool', 'oid'].includes(t.name)) return 'INTEGER';
  if (t.name === 'float4' || t.name === 'float8') return 'REAL';
  if (t.name === 'bytea') return 'BLOB';
  return 'TEXT';
}

function natural(v: StoredValue): unknown {
  if (v === null) return null;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (v instanceof TypedText || v instanceof JsonText) return v.text;
  return v;
}

const keyString = (k: KeyTuple) => k.map((v) => canonical(v)).join('\u0000');

/** A masked stand-in that still fits the column: equal inputs give equal outputs (joins and counts survive). */
export function maskValue(t: PgTypeInfo, c: Column, v: StoredValue, how: 'hash' | 'redact'): StoredValue {
  if (v === null) return null;
  if (how === 'redact') {
    if (!c.notNull) return null;
    if (t.category === 'S') return fitText(c, 'redacted');
    if (['int2', 'int4', 'int8', 'float4', 'float8'].includes(t.name)) return t.name === 'int8' ? 0n : 0;
    if (t.name === 'bytea') return new Uint8Array();
    if (t.name === 'json' || t.name === 'jsonb') return new JsonText('null');
    throw new RedressError('CONFIG', `Cannot redact NOT NULL column "${c.name}" (${c.type}); use --mask ${c.name}:hash, or leave it unmasked.`);
  }
  const digest = createHash('sha256').update(canonical(v)).digest();
  switch (t.name) {
    case 'int2':
      return digest.readUInt16BE(0) % 32768;
    case 'int4':
      return digest.readUInt32BE(0) % 2147483648;
    case 'int8':
      return digest.readBigUInt64BE(0) % 9223372036854775807n;
    case 'uuid': {
      const h = digest.toString('hex');
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
    }
    case 'bytea':
      return new Uint8Array(digest);
    case 'json':
    case 'jsonb':
      return new JsonText(JSON.stringify('h:' + digest.toString('hex').slice(0, 16)));
  }
  if (t.category === 'S') return fitText(c, 'h:' + digest.toString('hex').slice(0, 16));
  throw new RedressError('CONFIG', `Cannot hash column "${c.name}" (${c.type}); hashing works on text, integer, uuid, bytea and json columns. Use --mask ${c.name}:redact.`);
}

function fitText(c: Column, s: string): string {
  const m = /\((\d+)\)/.exec(c.type);
  if (!m) return s;
  const n = Number(m[1]);
  return /^character\(/.test(c.type) ? s.slice(0, n).padEnd(n, ' ') : s.slice(0, n);
}

export function readSnapshotInfo(path: string): SnapshotInfo {
  if (!existsSync(path)) throw new RedressError('TARGET', `No snapshot at ${path}. Take one with \`redress snapshot <table> -o ${path}\`.`);
  const db = new Database(path, { ...sqliteOptions(), readonly: true, fileMustExist: true });
  try {
    const row = db.prepare('SELECT format, info FROM redress_snapshot').get() as { format: string; info: string } | undefined;
    if (!row || row.format !== SNAPSHOT_FORMAT) throw new Error(`not a ${SNAPSHOT_FORMAT} file`);
    return JSON.parse(row.info) as SnapshotInfo;
  } catch (e) {
    throw new RedressError('TARGET', `${path} is not a Redress snapshot (${(e as Error).message}). Take a new one with \`redress snapshot\`.`);
  } finally {
    db.close();
  }
}

/**
 * A snapshot file as a read-only target. `normalizer` is the live target whose server says what a value
 * becomes when stored (the source, or any database with the same table definition).
 */
export class SnapshotTarget implements Target {
  readonly kind = 'sqlite' as const;
  readonly description: string;
  readonly info: SnapshotInfo;
  private readonly db: Database.Database;
  private readonly columnTypes = new WeakMap<Column, PgTypeInfo>();

  constructor(
    readonly path: string,
    private readonly normalizer: Target | null,
  ) {
    this.info = readSnapshotInfo(path);
    this.description = `snapshot:${path} (of ${this.info.source} "${this.info.table}", ${this.info.rows} rows, ${this.info.createdAt})`;
    this.db = new Database(path, { ...sqliteOptions(), readonly: true, fileMustExist: true });
    for (const c of this.info.schema.columns) this.columnTypes.set(c, this.info.types[c.name]!);
  }

  async tableSchema(table: string): Promise<TableSchema> {
    if (table !== this.info.table) {
      throw new RedressError('NO_TABLE', `The snapshot ${this.path} holds "${this.info.table}", not "${table}". Take a snapshot of "${table}" with \`redress snapshot ${table}\`.`, { table });
    }
    return this.info.schema;
  }

  async listTables(): Promise<string[]> {
    return [this.info.table];
  }

  private where(scan: Scan, extra?: string): string {
    const parts = [scan.where ? `(${scan.where})` : '', extra ?? ''].filter(Boolean);
    return parts.length ? ' WHERE ' + parts.join(' AND ') : '';
  }

  private decode(rows: { __row: string }[]): StoredRow[] {
    return rows.map((r) => {
      const w = JSON.parse(r.__row) as Record<string, WireValue>;
      const out: StoredRow = {};
      for (const c of this.info.schema.columns) out[c.name] = fromWire(w[c.name] ?? null);
      return out;
    });
  }

  private sameKey(scan: Scan): void {
    if (scan.key.length !== this.info.key.length || scan.key.some((k, i) => k !== this.info.key[i])) {
      throw new RedressError('NO_UNIQUE_KEY', `The snapshot ${this.path} is ordered by [${this.info.key.join(', ')}], the correction uses [${scan.key.join(', ')}]. Use that key, or preview against the database.`);
    }
  }

  async countRows(scan: Scan): Promise<number> {
    return (this.db.prepare(`SELECT count(*) AS n FROM ${q(scan.table)}${this.where(scan)}`).get() as { n: number }).n;
  }

  async nullKeyRows(): Promise<number> {
    return 0; // the key of a snapshot is the source's unique key; rows with NULL there were never taken
  }

  async readRange(scan: Scan, _schema: TableSchema, after: KeyTuple | null, limit: number): Promise<StoredRow[]> {
    this.sameKey(scan);
    let from = -1;
    if (after) {
      const r = this.db.prepare(`SELECT __ord FROM ${q(scan.table)} WHERE __key = ?`).get(keyString(after)) as { __ord: number } | undefined;
      if (!r) throw new RedressError('INTERNAL', 'the resume point of this run is not in the snapshot');
      from = r.__ord;
    }
    return this.decode(this.db.prepare(`SELECT __row FROM ${q(scan.table)}${this.where(scan, '__ord > ?')} ORDER BY __ord LIMIT ?`).all(from, limit) as { __row: string }[]);
  }

  async readKeys(scan: Scan, _schema: TableSchema, keys: KeyTuple[]): Promise<(StoredRow | undefined)[]> {
    const s = this.db.prepare(`SELECT __row FROM ${q(scan.table)} WHERE __key = ?`);
    return keys.map((k) => {
      const r = s.get(keyString(k)) as { __row: string } | undefined;
      return r ? this.decode([r])[0] : undefined;
    });
  }

  async sample(scan: Scan, _schema: TableSchema, n: number, seed: number): Promise<StoredRow[]> {
    this.sameKey(scan);
    // The snapshot is a sample already: a smaller one is a seeded choice among its rows, in key order.
    const all = this.db.prepare(`SELECT __row, __key, __ord FROM ${q(scan.table)}${this.where(scan)} ORDER BY __ord`).all() as { __row: string; __key: string; __ord: number }[];
    if (all.length <= n) return this.decode(all);
    const rank = (k: string) => createHash('sha256').update(`${seed}\u0000${k}`).digest().readUInt32BE(0);
    const chosen = all.map((r) => ({ r, h: rank(r.__key) })).sort((a, b) => a.h - b.h).slice(0, n).map((x) => x.r).sort((a, b) => a.__ord - b.__ord);
    return this.decode(chosen);
  }

  toFriendly(_column: Column, v: StoredValue): unknown {
    return pgFriendly(v);
  }

  typeMatches(column: Column, expected: string): boolean {
    return pgTypeMatches(this.columnTypes.get(column) ?? this.info.types[column.name], column, expected);
  }

  canonical(_column: Column, v: StoredValue): string {
    return pgCanonical(v);
  }

  async normalize(schema: TableSchema, rows: Record<string, unknown>[]): Promise<(StoredRow | ValueFitError)[]> {
    if (!this.normalizer) {
      throw new RedressError('TARGET', `Previewing on ${this.path} needs a PostgreSQL database with table "${schema.table}" to say what the transform's values become when stored; none is configured.`);
    }
    const live = await this.normalizer.tableSchema(schema.table);
    if (live.fingerprint !== schema.fingerprint) {
      const drift = schemaDrift(schema, live);
      throw new RedressError('SCHEMA_DRIFT', `The snapshot ${this.path} is stale: ${drift.message.replace(/^The schema of /, 'the schema of ')} Take a new snapshot.`, drift.data);
    }
    return this.normalizer.normalize(live, rows);
  }

  async casWrite(): Promise<CasOutcome[]> {
    throw new RedressError('TARGET', `${this.path} is a snapshot: it is for previews and dry-runs, never written. Apply plans made against the database.`);
  }

  async close(): Promise<void> {
    this.db.close();
  }
}

/** The daemon's `snapshot` method: from the workspace's PostgreSQL target into a file in the workspace. */
export async function snapshotRequest(
  target: Target,
  workspace: string,
  p: { table: string; rows: number; seed: number; stratifyBy?: string; where?: string; mask: MaskRule[]; output?: string },
): Promise<{ path: string; table: string; rows: number; sourceRows: number; source: string; fingerprint: string; key: string[]; masked: string[]; durationMs: number }> {
  const started = performance.now();
  if (!(target instanceof PostgresTarget)) {
    throw new RedressError('TARGET', `Snapshots are taken from a PostgreSQL target; this workspace's target is ${target.description}. Preview against it directly.`);
  }
  const path = resolve(workspace, p.output ?? join('.redress', 'snapshots', `${p.table}.sqlite`));
  const info = await takeSnapshot(target, {
    table: p.table,
    rows: p.rows,
    seed: p.seed,
    mask: p.mask,
    output: path,
    ...(p.stratifyBy ? { stratifyBy: p.stratifyBy } : {}),
    ...(p.where ? { where: p.where } : {}),
  });
  return {
    path,
    table: info.table,
    rows: info.rows,
    sourceRows: info.sourceRows,
    source: info.source,
    fingerprint: info.schema.fingerprint,
    key: info.key,
    masked: info.masked.map((m) => `${m.column}:${m.how}`),
    durationMs: performance.now() - started,
  };
}
