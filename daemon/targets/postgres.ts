// A PostgreSQL database as the target, through node-postgres.
//
// Fidelity: every connection runs with TimeZone UTC, DateStyle ISO, IntervalStyle postgres,
// extra_float_digits 3 and bytea_output hex, and parses text output per type (pgTypes.ts): nothing is
// rounded on the way in. Values go back to the server as their text, through json_populate_record on
// the table's own row type, so the server applies each column's input function with its type modifier
// (varchar(n) too long is an error, numeric(p,s) rounds) exactly as it does when it stores the value.
//
// Runs: an apply or rollback holds a session-level advisory lock on (correction, table) on a connection of
// its own for the whole run (lockRun), so two runs of one correction on one table never overlap, even from
// two daemons; a second run is refused before it writes, naming the holder.
// Writes: one transaction per batch: lock and statement timeouts, ROW EXCLUSIVE on the table and the
// fingerprint check (one round trip, while this process encodes the batch), then one UPDATE for the batch
// fed by unnest() of one text array per column, whose WHERE holds the compare-and-set check (the row's
// token, computed by the server, must still be the expected one). That UPDATE only counts; when it wrote
// fewer rows than the batch, the transaction is rolled back and the batch done again with an UPDATE that
// returns the rows it wrote, the others then read FOR UPDATE to tell "already in the after-state" from
// "drifted" or "missing". A batch cut off by a lost connection is retried with backoff; compare-and-set
// makes the retry safe (rows already written count as "already").
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import pg from 'pg';
import { RedressError } from '../../shared/errors';
import { sha256, type StoredValue } from '../../shared/values';
import { encodeValue, pgCanonical, pgFriendly, PgTypeRegistry, pgTypeMatches, type Encoded, type PgTypeInfo } from './pgTypes';
import { schemaDrift } from './schemaDrift';
import { ValueFitError, type CasOutcome, type CasWrite, type Column, type KeyTuple, type RunLock, type Scan, type StoredRow, type TableSchema, type Target } from './target';

export const q = (name: string) => '"' + name.replace(/"/g, '""') + '"';
const lit = (s: string) => "'" + s.replace(/'/g, "''") + "'";
/** A string literal that reads the same whatever standard_conforming_strings says. */
const litE = (s: string) => "E'" + s.replace(/\\/g, '\\\\').replace(/'/g, "''") + "'";

export interface PostgresOptions {
  /** Longest any one statement may run (ms). */
  statementTimeoutMs?: number;
  /** Longest a batch waits for a row or table lock before it is retried (ms). */
  lockTimeoutMs?: number;
  /** Attempts for a batch or read whose connection was lost or that hit a lock timeout. */
  retries?: number;
  /** First backoff (ms); doubles each attempt, with jitter. */
  backoffMs?: number;
  /** Pool size: batches written at once (apply's concurrency) get at most one less, leaving one for reads and health checks. */
  maxConnections?: number;
}

const SESSION = {
  TimeZone: 'UTC',
  DateStyle: 'ISO, YMD',
  IntervalStyle: 'postgres',
  extra_float_digits: '3',
  bytea_output: 'hex',
  client_encoding: 'UTF8',
};

/** What tableSchema learns beyond the Target's TableSchema: the qualified name and each column's type. */
interface PgTable {
  qualified: string;
  /** The table's OID: a table dropped and created again under its name has a new one. */
  oid: number;
  types: Map<string, PgTypeInfo>;
}

/** SQLSTATEs and socket errors after which the same batch can safely be tried again. */
function retryable(e: unknown): boolean {
  const err = e as { code?: string; message?: string };
  const code = err.code ?? '';
  if (/^08/.test(code) || ['57P01', '57P02', '57P03', '40001', '40P01', '55P03', 'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT'].includes(code)) return true;
  return /Connection terminated|connection timeout|Client has encountered a connection error|terminating connection/i.test(err.message ?? '');
}

export class PostgresTarget implements Target {
  readonly kind = 'postgres' as const;
  readonly description: string;
  private readonly pool: pg.Pool;
  private readonly registry = new PgTypeRegistry();
  private readonly tables = new Map<string, PgTable>();
  /** The type of each Column object tableSchema handed out (typeMatches gets those objects back). */
  private readonly columnTypes = new WeakMap<Column, PgTypeInfo>();
  /** The server's token of each row object this target read (rowTokens). */
  private readonly tokens = new WeakMap<StoredRow, string>();
  private readonly opts: Required<PostgresOptions>;
  /** The connection string with Redress's session settings (run locks connect with it). */
  private readonly url: string;
  /** Run locks this target holds, by lock key (see lockRun). */
  private readonly runLocks = new Map<string, PgRunLock>();
  /** Pool connections on which the catalog query is a prepared statement (casWrite EXECUTEs it with BEGIN). */
  private readonly catalogPrepared = new WeakSet<pg.ClientBase>();
  /**
   * Tables whose last batch had a row that was not in its planned before-state: their next batch goes
   * straight to the classifying UPDATE (see casTransaction) instead of trying the count-only one first.
   */
  private readonly classifyNext = new Set<string>();
  /** server_version_num (plan_cache_mode exists from PostgreSQL 12). */
  private serverVersion = 0;
  /** Called with each retry (tests and the daemon log). */
  onRetry: (what: string, attempt: number, e: Error) => void = () => {};
  /** Test seam: runs inside a batch's transaction just before COMMIT, with the session's backend pid. */
  beforeCommit: ((backendPid: number) => Promise<void>) | null = null;

  private constructor(connectionString: string, opts: PostgresOptions) {
    this.opts = { statementTimeoutMs: 60_000, lockTimeoutMs: 5_000, retries: 6, backoffMs: 100, maxConnections: 5, ...opts };
    const { url, description } = withSessionOptions(connectionString, this.opts.statementTimeoutMs);
    this.description = description;
    this.url = url;
    this.pool = new pg.Pool({
      connectionString: url,
      application_name: 'redress',
      max: this.opts.maxConnections,
      connectionTimeoutMillis: 10_000,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      types: this.registry.types,
    });
    // An idle connection that the server ends (restart, pg_terminate_backend) must not crash the daemon.
    this.pool.on('error', () => {});
  }

  /** Connects once to check the server is there and the credentials work; throws TARGET with what to do. */
  static async open(connectionString: string, opts: PostgresOptions = {}): Promise<PostgresTarget> {
    let t: PostgresTarget;
    try {
      t = new PostgresTarget(connectionString, opts);
    } catch (e) {
      throw new RedressError('TARGET', `The PostgreSQL connection string in redress.config.json is not valid: ${(e as Error).message}. Write it as postgres://user[:password]@host:port/database.`);
    }
    try {
      const r = await t.pool.query<{ v: string }>('SELECT current_setting($1) AS v', ['server_version_num']);
      t.serverVersion = Number(r.rows[0]!.v);
      if (t.serverVersion < 110000) throw new RedressError('TARGET', `${t.description} runs PostgreSQL ${r.rows[0]!.v}; Redress needs PostgreSQL 11 or later.`);
      await t.loadArrayTypes();
    } catch (e) {
      await t.pool.end().catch(() => {});
      throw connectionError(t.description, e);
    }
    return t;
  }

  /** For tests, benchmarks and snapshots: a query through this target's pool (same parsers, same session). */
  query<R extends pg.QueryResultRow = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    return this.pool.query<R>(sql, params);
  }

  private async loadArrayTypes(): Promise<void> {
    const r = await this.pool.query<{ oid: number; elem: string }>(
      `SELECT a.oid::int4 AS oid, e.typname AS elem FROM pg_type a JOIN pg_type e ON e.oid = a.typelem WHERE a.typcategory = 'A' AND a.typnamespace = 'pg_catalog'::regnamespace`,
    );
    for (const row of r.rows) this.registry.registerArray(row.oid, row.elem);
  }

  private async withRetry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (!retryable(e) || attempt >= this.opts.retries) {
          if (retryable(e)) {
            throw new RedressError('TARGET', `${what} on ${this.description} failed ${attempt} times: ${(e as Error).message}. Nothing of the failed batch was committed twice; resume the run when the database is reachable again.`, { sqlstate: (e as { code?: string }).code });
          }
          throw e;
        }
        this.onRetry(what, attempt, e as Error);
        const wait = this.opts.backoffMs * 2 ** (attempt - 1);
        await new Promise((r) => setTimeout(r, wait / 2 + Math.random() * wait));
      }
    }
  }

  async listTables(): Promise<string[]> {
    const r = await this.pool.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_class c WHERE c.relkind IN ('r', 'p') AND pg_table_is_visible(c.oid) AND c.relnamespace <> 'pg_catalog'::regnamespace ORDER BY 1`,
    );
    return r.rows.map((x) => x.name);
  }

  // ---------- schema ----------

  async tableSchema(table: string): Promise<TableSchema> {
    return this.withRetry('reading the schema', async () => {
      const r = await this.pool.query<{ info: string | null }>({ name: CATALOG_STATEMENT, text: CATALOG_SQL, values: [q(table)] });
      return this.schemaFrom(table, r.rows[0]!.info);
    });
  }

  private schemaFrom(table: string, infoText: string | null): TableSchema {
    const info = infoText === null ? null : (JSON.parse(infoText) as CatalogInfo);
    if (!info) {
      throw new RedressError('NO_TABLE', `Table "${table}" does not exist in ${this.description} (looked along the search_path). Check the name, or set search_path in the connection string (?options=-c%20search_path%3Dmyschema).`, { table });
    }
    const types = new Map<string, PgTypeInfo>();
    for (const c of info.columns) {
      const t: PgTypeInfo = { oid: c.typoid, name: c.basename, sqlType: c.basetype, category: c.category, ...(c.elem ? { elem: c.elem } : {}), ...(c.labels ? { labels: c.labels } : {}) };
      types.set(c.name, t);
      // Domains arrive with their own OID: parse them as their base type.
      if (c.typoid !== c.baseoid) this.registry.registerScalar(c.typoid, c.basename);
      if (c.category === 'A' && c.elem) this.registry.registerArray(c.baseoid, c.elem);
    }
    this.tables.set(table, { qualified: info.qualified, oid: info.oid, types });
    const columns: Column[] = info.columns.map((c) => ({ name: c.name, type: c.type, notNull: c.notnull }));
    columns.forEach((c) => this.columnTypes.set(c, types.get(c.name)!));
    const uniqueKeys: string[][] = [];
    for (const k of info.keys) if (!uniqueKeys.some((u) => u.length === k.length && u.every((x) => k.includes(x)))) uniqueKeys.push(k);
    const enums = Object.fromEntries(info.columns.filter((c) => c.labels).map((c) => [c.name, c.labels]));
    const fingerprint = sha256(
      JSON.stringify({ table: info.qualified, columns: columns.map((c) => [c.name, c.type, c.notNull]), uniqueKeys: uniqueKeys.map((k) => [...k].sort()).sort(), enums }),
    );
    return { table, columns, uniqueKeys, fingerprint };
  }

  /** The table's qualified name and column types; read from the catalog when this process has not yet. */
  private async meta(table: string): Promise<PgTable> {
    if (!this.tables.has(table)) await this.tableSchema(table);
    return this.tables.get(table)!;
  }

  // ---------- reads ----------

  private where(scan: Scan, extra?: string): string {
    const parts = [scan.where ? `(${scan.where})` : '', extra ?? ''].filter(Boolean);
    return parts.length ? ' WHERE ' + parts.join(' AND ') : '';
  }

  async countRows(scan: Scan): Promise<number> {
    const t = this.tables.get(scan.table)?.qualified ?? q(scan.table);
    const r = await this.withRetry('counting rows', () => this.pool.query<{ n: bigint }>(`SELECT count(*) AS n FROM ${t}${this.where(scan)}`));
    return Number(r.rows[0]!.n);
  }

  async nullKeyRows(scan: Scan): Promise<number> {
    const t = this.tables.get(scan.table)?.qualified ?? q(scan.table);
    const r = await this.withRetry('counting NULL keys', () => this.pool.query<{ n: bigint }>(`SELECT count(*) AS n FROM ${t} WHERE ${scan.key.map((k) => `${q(k)} IS NULL`).join(' OR ')}`));
    return Number(r.rows[0]!.n);
  }

  /** Every column, then the row's compare-and-set token (computed by the server, see rowTokens). */
  private selectList(schema: TableSchema, alias = ''): string {
    return `${schema.columns.map((c) => alias + q(c.name)).join(', ')}, ${this.tokenSql(schema, alias)} AS __redress_token`;
  }

  /** The token of a row as SQL over its columns (`alias` is 't.' or ''); see rowToken for the JavaScript side. */
  private tokenSql(schema: TableSchema, alias = ''): string {
    return `'pg1:' || encode(${this.tokenDigestSql(schema, alias)}, 'hex')`;
  }

  /** The SHA-256 digest (bytea) a token is 'pg1:' and the hex of: what the batch UPDATE compares. */
  private tokenDigestSql(schema: TableSchema, alias = ''): string {
    const meta = this.tables.get(schema.table);
    const parts = schema.columns.map((c) => {
      const col = alias + q(c.name);
      const t = meta?.types.get(c.name);
      const x = t && (t.name === 'float4' || t.name === 'float8') ? `CASE WHEN ${col} = 'NaN' THEN 'NaN' ELSE encode(${t.name}send(${col}), 'hex') END` : `${col}::text`;
      return `coalesce(octet_length(${x})::text || ':' || ${x}, '~')`;
    });
    return `sha256(convert_to(${parts.join(' || ')}, 'UTF8'))`;
  }

  /** Rows from array-mode results: `lead` leading columns, the table's columns, then the token (remembered). */
  private rowsOf(schema: TableSchema, raw: unknown[][], lead = 0): { rows: StoredRow[]; leads: unknown[][] } {
    const cols = schema.columns;
    const rows: StoredRow[] = new Array(raw.length);
    const leads: unknown[][] = new Array(raw.length);
    raw.forEach((a, j) => {
      const row: StoredRow = {};
      for (let i = 0; i < cols.length; i++) row[cols[i]!.name] = a[lead + i] as StoredValue;
      this.tokens.set(row, a[lead + cols.length] as string);
      rows[j] = row;
      leads[j] = a.slice(0, lead);
    });
    return { rows, leads };
  }

  /**
   * Compare-and-set tokens: 'pg1:' and the SHA-256 of each column's exact rendering (its text as the
   * server prints it under Redress's session settings; floats as their IEEE bytes, any NaN as NaN),
   * length-prefixed, NULL as '~'. Rows read from the server carry the token it computed; rows the engine
   * builds (after-states) are rendered here the same way, from the same exact values. Because the server
   * computes the same expression, the compare-and-set check itself runs inside the UPDATE.
   */
  rowTokens(schema: TableSchema, rows: StoredRow[]): string[] {
    const meta = this.tables.get(schema.table);
    return rows.map((r) => this.tokens.get(r) ?? rowToken(schema, meta?.types, r));
  }

  /** Key values as typed parameters: `$n::type` with the column's type without its modifier. */
  private keyParams(scan: Scan, meta: PgTable, key: KeyTuple, first: number): { sql: string; params: (string | null)[] } {
    const params = key.map((v, i) => textOf(encodeValue(meta.types.get(scan.key[i]!)!, v)));
    const sql = scan.key.map((k, i) => `$${first + i}::${baseType(meta.types.get(k)!)}`).join(', ');
    return { sql: scan.key.length > 1 ? `(${sql})` : sql, params };
  }

  /**
   * A read that fails because a column or the table is gone, or a type changed, reports the schema drift
   * (what changed) instead of the bare SQL error.
   */
  private async driftAware<T>(schema: TableSchema, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      const code = (e as { code?: string }).code ?? '';
      if (['42703', '42P01', '42804', '42883', '0A000'].includes(code)) {
        const now = await this.tableSchema(schema.table).catch((e2: unknown) => {
          throw e2 instanceof RedressError && e2.code === 'NO_TABLE' ? new RedressError('SCHEMA_DRIFT', `Table "${schema.table}" was dropped or renamed while the run was going. The run halted; nothing more was written.`) : e;
        });
        if (now.fingerprint !== schema.fingerprint) throw schemaDrift(schema, now);
      }
      throw e;
    }
  }

  async readRange(scan: Scan, schema: TableSchema, after: KeyTuple | null, limit: number): Promise<StoredRow[]> {
    return this.driftAware(schema, () => this.readRangeRaw(scan, schema, after, limit));
  }

  private async readRangeRaw(scan: Scan, schema: TableSchema, after: KeyTuple | null, limit: number): Promise<StoredRow[]> {
    const meta = await this.meta(scan.table);
    const keyList = scan.key.map(q).join(', ');
    const tuple = scan.key.length > 1 ? `(${keyList})` : keyList;
    const kp = after ? this.keyParams(scan, meta, after, 2) : null;
    const sql = `SELECT ${this.selectList(schema)} FROM ${meta.qualified}${this.where(scan, kp ? `${tuple} > ${kp.sql}` : undefined)} ORDER BY ${keyList} LIMIT $1`;
    const r = await this.withRetry('reading a batch', () => this.pool.query<unknown[]>(prepared(sql, [limit, ...(kp?.params ?? [])], true)));
    return this.rowsOf(schema, r.rows).rows;
  }

  async readKeys(scan: Scan, schema: TableSchema, keys: KeyTuple[]): Promise<(StoredRow | undefined)[]> {
    return this.driftAware(schema, () => this.readKeysRaw(scan, schema, keys));
  }

  private async readKeysRaw(scan: Scan, schema: TableSchema, keys: KeyTuple[]): Promise<(StoredRow | undefined)[]> {
    if (keys.length === 0) return [];
    const meta = await this.meta(scan.table);
    const { sql, params } = this.keyJoin(scan, meta, keys);
    const r = await this.withRetry('reading rows by key', () => this.pool.query<unknown[]>(prepared(`SELECT u.i, ${this.selectList(schema, 't.')} ${sql}`, params, true)));
    const out: (StoredRow | undefined)[] = new Array(keys.length).fill(undefined);
    const { rows, leads } = this.rowsOf(schema, r.rows, 1);
    rows.forEach((row, j) => (out[Number(leads[j]![0]) - 1] = row));
    return out;
  }

  /** FROM/WHERE that joins the table with unnest()ed key columns (u.i: 1-based position in `keys`). */
  private keyJoin(scan: Scan, meta: PgTable, keys: KeyTuple[], lockClause = ''): { sql: string; params: (string | Buffer)[] } {
    const u = unnestOf(scan.key.map((k, j) => ({ type: meta.types.get(k)!, values: keys.map((key) => key[j] ?? null) })));
    const cond = scan.key.map((k, j) => `t.${q(k)} = ${u.cols[j]}`).join(' AND ');
    return { sql: `FROM ${u.from} JOIN ${meta.qualified} AS t ON ${cond}${lockClause}`, params: u.params };
  }

  async sample(scan: Scan, schema: TableSchema, n: number, seed: number): Promise<StoredRow[]> {
    return this.driftAware(schema, () => this.sampleRaw(scan, schema, n, seed));
  }

  private async sampleRaw(scan: Scan, schema: TableSchema, n: number, seed: number): Promise<StoredRow[]> {
    const meta = await this.meta(scan.table);
    const keyList = scan.key.map(q).join(', ');
    const rowKey = scan.key.length > 1 ? `ROW(${keyList})::text` : `${q(scan.key[0]!)}::text`;
    // Small tables: order every row by a hash of (seed, key). Large ones: a repeatable Bernoulli
    // sample of about 4n rows first, so the sort stays small; the same seed picks the same rows.
    const est = await this.withRetry('estimating the table size', () =>
      this.pool.query<{ n: number }>(`SELECT greatest(reltuples, 0)::float8 AS n FROM pg_class WHERE oid = to_regclass(${lit(meta.qualified)})`),
    );
    const rows = est.rows[0]?.n ?? 0;
    const pct = rows > 200_000 && !scan.where ? Math.min(100, (400 * Math.max(n, 50)) / rows) : 100;
    const from = pct < 100 ? `${meta.qualified} TABLESAMPLE BERNOULLI (${pct}) REPEATABLE (${Math.trunc(seed)})` : meta.qualified;
    const sql = `SELECT * FROM (SELECT ${this.selectList(schema)} FROM ${from}${this.where(scan)} ORDER BY md5($1::text || ${rowKey}) LIMIT $2) s ORDER BY ${keyList}`;
    const r = await this.withRetry('sampling rows', () => this.pool.query<unknown[]>({ text: sql, values: [String(seed), n], rowMode: 'array' }));
    return this.rowsOf(schema, r.rows).rows;
  }

  /**
   * A seeded sample stratified by a column: every value of the column is represented, then rows are
   * taken in proportion to each value's share (the within-value rank over the value's size), in key order.
   */
  async sampleStratified(scan: Scan, schema: TableSchema, n: number, seed: number, column: string): Promise<StoredRow[]> {
    return this.driftAware(schema, async () => {
      const meta = await this.meta(scan.table);
      const keyList = scan.key.map(q).join(', ');
      const rowKey = scan.key.length > 1 ? `ROW(${keyList})::text` : `${q(scan.key[0]!)}::text`;
      const sql = `SELECT ${this.selectList(schema)} FROM (
          SELECT *, row_number() OVER (PARTITION BY ${q(column)} ORDER BY h) AS __rn, count(*) OVER (PARTITION BY ${q(column)}) AS __n
          FROM (SELECT *, md5($1::text || ${rowKey}) AS h FROM ${meta.qualified}${this.where(scan)}) hashed) ranked
        ORDER BY (__rn = 1) DESC, (__rn - 0.5) / __n, h LIMIT $2`;
      const r = await this.withRetry('sampling rows', () => this.pool.query<unknown[]>({ text: `SELECT * FROM (${sql}) s ORDER BY ${keyList}`, values: [String(seed), n], rowMode: 'array' }));
      return this.rowsOf(schema, r.rows).rows;
    });
  }

  /** Each column's PostgreSQL type, as tableSchema learned it (for snapshots). */
  columnTypesOf(table: string): Record<string, PgTypeInfo> {
    const t = this.tables.get(table);
    if (!t) throw new RedressError('INTERNAL', `tableSchema("${table}") must be read first`);
    return Object.fromEntries(t.types);
  }

  // ---------- values ----------

  toFriendly(_column: Column, v: StoredValue): unknown {
    return pgFriendly(v);
  }

  typeMatches(column: Column, expected: string): boolean {
    return pgTypeMatches(this.columnTypes.get(column), column, expected);
  }

  canonical(_column: Column, v: StoredValue): string {
    return pgCanonical(v);
  }

  async normalize(schema: TableSchema, rows: Record<string, unknown>[]): Promise<(StoredRow | ValueFitError)[]> {
    const meta = await this.meta(schema.table);
    const byName = new Map(schema.columns.map((c) => [c.name, c]));
    const out: (StoredRow | ValueFitError)[] = new Array(rows.length);
    const asked: { i: number; doc: string; cols: string[] }[] = [];
    rows.forEach((row, i) => {
      const cols = Object.keys(row);
      const enc: Record<string, Encoded> = {};
      for (const name of cols) {
        const c = byName.get(name);
        if (!c) return void (out[i] = new ValueFitError(name, `column "${name}" does not exist in ${schema.table}`));
        const v = row[name];
        if ((v === null || v === undefined) && c.notNull) return void (out[i] = new ValueFitError(name, `column "${name}" (${c.type}): NULL in a NOT NULL column`));
        try {
          enc[name] = encodeValue(meta.types.get(name)!, v);
        } catch (e) {
          return void (out[i] = new ValueFitError(name, `column "${name}" (${c.type}): ${(e as Error).message}`));
        }
      }
      asked.push({ i, doc: encodedDoc(enc), cols });
    });
    if (asked.length === 0) return out;
    const allCols = [...new Set(asked.flatMap((a) => a.cols))];
    // Prepared per table OID: a statement prepared on a table's row type fails once the table is dropped
    // and created again ("function in FROM has unsupported return type"), and its name is the text's hash.
    const sql = `SELECT ${allCols.map((c) => `${valueExpr(meta, c, 'd')} AS ${q(c)}`).join(', ')} FROM json_array_elements($1::json) WITH ORDINALITY AS d(v, i), LATERAL json_populate_record(NULL::${meta.qualified}, d.v) AS r ORDER BY d.i /* relation ${meta.oid} */`;
    const pick = (a: (typeof asked)[number], row: StoredRow): StoredRow => Object.fromEntries(a.cols.map((c) => [c, row[c] ?? null]));
    try {
      const r = await this.withRetry('normalizing values', () => this.pool.query<StoredRow>(prepared(sql, ['[' + asked.map((a) => a.doc).join(',') + ']'])));
      asked.forEach((a, j) => (out[a.i] = pick(a, r.rows[j]!)));
    } catch (e) {
      if (!isValueError(e)) throw e;
      // Some value does not fit: ask row by row to tell which, with the server's own message.
      for (const a of asked) {
        try {
          const r = await this.withRetry('normalizing a value', () => this.pool.query<StoredRow>(sql, ['[' + a.doc + ']']));
          out[a.i] = pick(a, r.rows[0]!);
        } catch (e2) {
          if (!isValueError(e2)) throw e2;
          const col = a.cols.find((c) => (e2 as Error).message.includes(c)) ?? a.cols.find((c) => new RegExp(`type ${meta.types.get(c)?.name}\\b`).test((e2 as Error).message)) ?? a.cols[0]!;
          out[a.i] = new ValueFitError(col, `${(e2 as Error).message} (columns ${a.cols.join(', ')})`);
        }
      }
    }
    return out;
  }

  // ---------- throttling ----------

  async healthCheck(o: { healthQuery?: string; maxTransactionAgeS?: number; maxReplicationLagS?: number }): Promise<string | null> {
    if (o.healthQuery) {
      let r: pg.QueryResult;
      try {
        r = await this.withRetry('running the throttle query', () => this.pool.query({ text: o.healthQuery!, rowMode: 'array' }));
      } catch (e) {
        throw new RedressError('TARGET', `The throttle query failed: ${(e as Error).message}. Fix it (it must return one row whose first column is true while writes should wait), then resume.`);
      }
      const row = r.rows[0] as unknown[] | undefined;
      const v = row?.[0];
      if (v === true || v === 't' || v === 1 || v === '1' || v === 1n) return `the throttle query says wait${row!.length > 1 && row![1] !== null ? `: ${String(row![1])}` : ''}`;
    }
    if (o.maxTransactionAgeS !== undefined) {
      const r = await this.withRetry('checking for long transactions', () =>
        this.pool.query<{ pid: number; age: number; state: string }>(
          `SELECT pid, extract(epoch FROM now() - xact_start)::float8 AS age, state FROM pg_stat_activity
           WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid() AND application_name <> 'redress' AND backend_type = 'client backend'
           ORDER BY xact_start LIMIT 1`,
        ),
      );
      const t = r.rows[0];
      if (t && t.age > o.maxTransactionAgeS) return `a transaction (pid ${t.pid}, ${t.state}) has been open ${t.age.toFixed(1)}s, more than ${o.maxTransactionAgeS}s`;
    }
    if (o.maxReplicationLagS !== undefined) {
      const r = await this.withRetry('checking replication lag', () =>
        this.pool.query<{ name: string; lag: number | null }>(
          `SELECT application_name AS name, extract(epoch FROM greatest(write_lag, flush_lag, replay_lag))::float8 AS lag FROM pg_stat_replication ORDER BY 2 DESC NULLS LAST LIMIT 1`,
        ),
      );
      const l = r.rows[0];
      if (l && l.lag !== null && l.lag > o.maxReplicationLagS) return `replica ${l.name} lags ${l.lag.toFixed(1)}s, more than ${o.maxReplicationLagS}s`;
    }
    return null;
  }

  // ---------- compare-and-set writes ----------

  get maxConcurrentWrites(): number {
    return Math.max(1, this.opts.maxConnections - 1);
  }

  // ---------- run locks ----------

  /**
   * A session-level advisory lock on (correction, table), taken with pg_try_advisory_lock on a connection
   * of its own and held until release: for the whole of an apply or rollback run. Never waits: when
   * another session holds it, throws BUSY naming that session (its application_name says which run of
   * which daemon). A daemon that dies loses its session, and the server frees the lock with it.
   */
  async lockRun(scan: Scan, holder: string): Promise<RunLock> {
    const meta = await this.meta(scan.table);
    const key = runLockKey(scan, meta);
    const lock = new PgRunLock(this.url, this.registry.types, key, holder, (who) => this.busy(scan, who));
    await this.withRetry('taking the run lock', () => lock.acquire());
    this.runLocks.set(key, lock);
    lock.onRelease = () => {
      if (this.runLocks.get(key) === lock) this.runLocks.delete(key);
    };
    return lock;
  }

  private busy(scan: Scan, who: LockHolder | null): RedressError {
    const what = `${scan.correctionId ?? 'this correction'} on table ${scan.table}`;
    const holder = who
      ? `${who.app ? `"${who.app}"` : 'a session'} (PostgreSQL session pid ${who.pid}${who.addr ? ` from ${who.addr}` : ''}, connected since ${who.since})`
      : 'another session (it ended just now: try again)';
    return new RedressError(
      'BUSY',
      `Another run of ${what} is going on ${this.description}: its lock is held by ${holder}. Two runs of one correction on one table never overlap, so this one did not start and wrote nothing. ` +
        `Wait for that run to end, or pause or cancel it from the workspace that started it (\`redress pause <run>\`). ` +
        (who ? `If its daemon is gone, the server frees the lock when that session ends; to end it now: SELECT pg_terminate_backend(${who.pid}).` : ''),
      { ...(who ? { holderPid: who.pid, holder: who.app } : {}) },
    );
  }

  // ---------- compare-and-set writes ----------

  async casWrite(scan: Scan, schema: TableSchema, writes: CasWrite[], hashRow: (row: StoredRow) => string): Promise<CasOutcome[]> {
    if (writes.length === 0) return [];
    const meta = await this.meta(scan.table);
    // The run's lock session was cut off (server restart, pg_terminate_backend): take the lock again before
    // writing, or stop here if another run took it meanwhile.
    const lock = this.runLocks.get(runLockKey(scan, meta));
    if (lock?.lost) await this.withRetry('taking the run lock again', () => lock.reacquire());
    return this.withRetry('writing a batch', async () => {
      const client = await this.pool.connect();
      // A checked-out client whose server goes away emits 'error'; the failing query reports it.
      const ignore = () => {};
      client.on('error', ignore);
      let broken: Error | undefined;
      try {
        return await this.casTransaction(client, scan, schema, meta, writes, hashRow);
      } catch (e) {
        broken = e as Error;
        await client.query('ROLLBACK').catch(() => {});
        throw e;
      } finally {
        client.off('error', ignore);
        client.release(broken && retryable(broken) ? broken : undefined);
      }
    });
  }

  /**
   * BEGIN, the transaction's timeouts, ROW EXCLUSIVE on the table and the catalog read under it, in one
   * round trip once this connection has the catalog statement prepared; returns the catalog text.
   * Holding ROW EXCLUSIVE, no ALTER TABLE can commit until this batch has.
   */
  private async begin(client: pg.PoolClient, meta: PgTable): Promise<string | null> {
    const settings = [`lock_timeout = ${Math.trunc(this.opts.lockTimeoutMs)}`, `statement_timeout = ${Math.trunc(this.opts.statementTimeoutMs)}`];
    // The batch statements are prepared; skip the 5 custom plans PostgreSQL would make first on each
    // connection (with the true batch size, a custom plan can merge-join over the whole key index).
    if (this.serverVersion >= 120000) settings.push('plan_cache_mode = force_generic_plan');
    const pre = `BEGIN; ${settings.map((x) => `SET LOCAL ${x};`).join(' ')} LOCK TABLE ${meta.qualified} IN ROW EXCLUSIVE MODE`;
    if (this.catalogPrepared.has(client)) {
      const rs = (await client.query(`${pre}; EXECUTE ${q(CATALOG_STATEMENT)}(${litE(meta.qualified)})`)) as unknown as pg.QueryResult<{ info: string | null }>[];
      return rs[rs.length - 1]!.rows[0]!.info;
    }
    await client.query(pre);
    const r = await client.query<{ info: string | null }>({ name: CATALOG_STATEMENT, text: CATALOG_SQL, values: [meta.qualified] });
    this.catalogPrepared.add(client);
    return r.rows[0]!.info;
  }

  /**
   * The batch's UPDATE (for the writes at `idx`), fed by unnest() of one text array per column, each cast
   * to the column's type (bench/postgres-methods.ts: faster than a VALUES list or a JSON parameter). The
   * assignment then applies the column's modifier exactly as for any UPDATE. A column only some rows set
   * carries a flag. With `withExpected`, the compare-and-set check is part of the UPDATE's WHERE, on the
   * target row itself: a row is written only while its token (computed by the server from its current
   * values) is the expected one, and READ COMMITTED re-checks it on the newest version of a row another
   * session changes meanwhile. With `returning`, it returns the 1-based position (u.i) of each row it wrote.
   */
  private updateStatement(scan: Scan, schema: TableSchema, meta: PgTable, ws: CasWrite[], withExpected: boolean, returning: boolean): pg.QueryConfig {
    const nk = scan.key.length;
    const seen = new Set<string>();
    for (const w of ws) for (const c of Object.keys(w.set)) seen.add(c);
    const setCols = [...seen].filter((c) => !scan.key.includes(c));
    const partial = setCols.filter((c) => !ws.every((w) => c in w.set));
    const u = unnestOf(
      [
        ...scan.key.map((k, j) => ({ type: meta.types.get(k)!, values: ws.map((w) => w.key[j] ?? null) })),
        ...setCols.map((c) => ({ type: meta.types.get(c)!, values: ws.map((w) => w.set[c] ?? null) })),
        ...partial.map((c) => ({ type: BOOL, values: ws.map((w) => c in w.set) })),
      ],
      // The expected tokens as their SHA-256 digests, one binary bytea[] parameter: half the bytes of
      // their text, and the server compares digests without rendering each row's token as text.
      withExpected ? digestArray(ws.map((w) => w.expectHash)) : undefined,
    );
    const assignments = setCols.map((c, j) => {
      const v = u.cols[nk + j]!;
      const p = partial.indexOf(c);
      return `${q(c)} = ${p < 0 ? v : `CASE WHEN ${u.cols[nk + setCols.length + p]} THEN ${v} ELSE t.${q(c)} END`}`;
    });
    const cond = [...scan.key.map((k, j) => `t.${q(k)} = ${u.cols[j]}`), ...(withExpected ? [`${this.tokenDigestSql(schema, 't.')} = ${u.binary}`] : [])].join(' AND ');
    return prepared(`UPDATE ${meta.qualified} AS t SET ${assignments.join(', ')} FROM ${u.from} WHERE ${cond}${returning ? ' RETURNING u.i' : ''}`, u.params, returning);
  }

  /**
   * One batch, one transaction. Compare-and-set tokens the server computes ('pg1:', the common case):
   * first an UPDATE that only counts (no row sent back); when it wrote every row, COMMIT. When it wrote
   * fewer (a row drifted, is gone, or was already written by an earlier attempt), that transaction is
   * rolled back and the batch is done again by `classify`: an UPDATE that returns which rows it wrote,
   * then the others read FOR UPDATE to tell 'already' from 'drifted' and 'missing'. The rollback undoes
   * the whole count-only attempt, so outcomes only ever come from the transaction that commits.
   */
  private async casTransaction(client: pg.PoolClient, scan: Scan, schema: TableSchema, meta: PgTable, writes: CasWrite[], hashRow: (row: StoredRow) => string, classify = false): Promise<CasOutcome[]> {
    const serverSide = writes.every((w) => isPg1(w.expectHash) && isPg1(w.doneHash));
    const countOnly = serverSide && !classify && !this.classifyNext.has(meta.qualified);
    // The server begins, locks and reads the catalog while this process encodes the batch's parameters.
    const began = this.begin(client, meta);
    began.catch(() => {}); // awaited below; an encoding error must not leave it unhandled
    let fast: pg.QueryConfig | undefined;
    try {
      if (countOnly) fast = this.updateStatement(scan, schema, meta, writes, true, false);
    } catch (e) {
      await began.catch(() => {});
      throw e;
    }
    const now = this.schemaFrom(scan.table, await began);
    if (now.fingerprint !== schema.fingerprint) throw schemaDrift(schema, now);

    if (fast) {
      const r = await client.query(fast);
      if (r.rowCount === writes.length) {
        await this.commit(client);
        return writes.map(() => 'written');
      }
      await client.query('ROLLBACK');
      this.classifyNext.add(meta.qualified);
      return this.casTransaction(client, scan, schema, meta, writes, hashRow, true);
    }

    const outcomes: CasOutcome[] = new Array(writes.length);
    const update = async (idx: number[], withExpected: boolean): Promise<Set<number>> => {
      const r = await client.query<unknown[]>(this.updateStatement(scan, schema, meta, idx.map((i) => writes[i]!), withExpected, true));
      return new Set(r.rows.map((x) => idx[Number(x[0]) - 1]!));
    };
    /** The rows at these indexes, locked, with their tokens. */
    const current = async (idx: number[]): Promise<Map<number, StoredRow>> => {
      const { sql, params } = this.keyJoin(scan, meta, idx.map((i) => writes[i]!.key), ' FOR UPDATE OF t');
      const r = await client.query<unknown[]>(prepared(`SELECT u.i, ${this.selectList(schema, 't.')} ${sql}`, params, true));
      const { rows, leads } = this.rowsOf(schema, r.rows, 1);
      return new Map(rows.map((row, j) => [idx[Number(leads[j]![0]) - 1]!, row]));
    };
    const all = writes.map((_, i) => i);
    if (serverSide) {
      const written = await update(all, true);
      const others = all.filter((i) => !written.has(i));
      const now = others.length ? await current(others) : new Map<number, StoredRow>();
      for (const i of all) {
        if (written.has(i)) outcomes[i] = 'written';
        else {
          const row = now.get(i);
          outcomes[i] = !row ? 'missing' : this.tokens.get(row) === writes[i]!.doneHash ? 'already' : 'drifted';
        }
      }
      // Every row in its before-state again: the next batch tries the count-only UPDATE first.
      if (others.length === 0) this.classifyNext.delete(meta.qualified);
    } else {
      // Tokens of another kind (a caller's own hash): lock and read the rows, compare here, then write.
      const now = await current(all);
      for (const i of all) {
        const row = now.get(i);
        const h = row ? hashRow(row) : null;
        outcomes[i] = !row ? 'missing' : h === writes[i]!.doneHash ? 'already' : h === writes[i]!.expectHash ? 'written' : 'drifted';
      }
      const toWrite = all.filter((i) => outcomes[i] === 'written');
      if (toWrite.length) {
        const written = await update(toWrite, false);
        if (written.size !== toWrite.length) throw new RedressError('INTERNAL', `the batch update touched ${written.size} rows, expected ${toWrite.length}; rolled back`);
      }
    }
    await this.commit(client);
    return outcomes;
  }

  private async commit(client: pg.PoolClient): Promise<void> {
    if (this.beforeCommit) await this.beforeCommit((client as unknown as { processID: number }).processID);
    await client.query('COMMIT');
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

// ---------- run locks ----------

/** What the run lock is keyed by: the correction and the table's qualified name. */
function runLockKey(scan: Scan, meta: PgTable): string {
  return `redress:${scan.correctionId ?? ''}:${meta.qualified}`;
}

/** The lock's two int4 keys: a constant class for Redress, and a hash of the key text ($1). */
const LOCK_KEYS = `hashtext('redress-run'), hashtext($1)`;

interface LockHolder {
  pid: number;
  app: string;
  addr: string | null;
  since: string;
}

/** application_name is at most 63 bytes. */
function appName(holder: string): string {
  let s = holder;
  while (Buffer.byteLength(s) > 63) s = s.slice(0, -1);
  return s;
}

/** The daemon's own part of a lock holder's name: which machine and process. */
export const daemonLabel = (): string => `pid ${process.pid}@${hostname()}`;

class PgRunLock implements RunLock {
  private client: pg.Client | null = null;
  /** The lock's session ended other than by release: the lock is gone with it. */
  lost = false;
  onRelease: () => void = () => {};

  constructor(
    private readonly url: string,
    private readonly types: PgTypeRegistry['types'],
    private readonly key: string,
    private holder: string,
    private readonly busy: (who: LockHolder | null) => Error,
  ) {}

  private reacquiring: Promise<void> | null = null;

  /** acquire() for a lock that was lost: batches written at once that all find it lost share one attempt. */
  reacquire(): Promise<void> {
    this.reacquiring ??= this.acquire().finally(() => (this.reacquiring = null));
    return this.reacquiring;
  }

  async acquire(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, application_name: appName(this.holder), connectionTimeoutMillis: 10_000, keepAlive: true, types: this.types });
    const gone = () => {
      if (this.client === client) this.lost = true;
    };
    client.on('error', gone);
    client.on('end', gone);
    await client.connect();
    try {
      const r = await client.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock(${LOCK_KEYS}) AS ok`, [this.key]);
      if (!r.rows[0]!.ok) throw this.busy(await this.holderOf(client));
    } catch (e) {
      await client.end().catch(() => {});
      throw e;
    }
    const old = this.client;
    this.client = client;
    this.lost = false;
    await old?.end().catch(() => {});
  }

  /** The session that holds the lock (pg_locks shows int4 keys as unsigned oids). */
  private async holderOf(client: pg.Client): Promise<LockHolder | null> {
    const r = await client.query<LockHolder>(
      `SELECT a.pid, coalesce(a.application_name, '') AS app, host(a.client_addr) AS addr, date_trunc('second', a.backend_start)::text AS since
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
       WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
         AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
         AND l.classid = (hashtext('redress-run')::int8 & 4294967295)::text::oid
         AND l.objid = (hashtext($1)::int8 & 4294967295)::text::oid
       LIMIT 1`,
      [this.key],
    );
    return r.rows[0] ?? null;
  }

  async describe(holder: string): Promise<void> {
    this.holder = holder;
    await this.client?.query(`SELECT set_config('application_name', $1, false)`, [appName(holder)]).catch(() => {});
  }

  async release(): Promise<void> {
    const client = this.client;
    if (!client) return;
    this.client = null;
    this.onRelease();
    // Unlock first: ending the session frees the lock too, but only once the server has noticed.
    await client.query(`SELECT pg_advisory_unlock(${LOCK_KEYS})`, [this.key]).catch(() => {});
    await client.end().catch(() => {});
  }
}

// ---------- SQL building blocks ----------

/** The typed value of column `c` from the JSON element `alias.v` (json columns are carried as text). */
function valueExpr(meta: PgTable, c: string, alias: string): string {
  const t = meta.types.get(c)!;
  if (t.name === 'json' || t.name === 'jsonb') return `(${alias}.v->>${lit(c)})::${t.name}`;
  return `r.${q(c)}`;
}

/** The column's type without its modifier, for casting parameters (domains resolved to the base type). */
function baseType(t: PgTypeInfo): string {
  return t.sqlType ?? t.name;
}

const BOOL: PgTypeInfo = { oid: 16, name: 'bool', sqlType: 'boolean', category: 'B' };
const TEXT: PgTypeInfo = { oid: 25, name: 'text', sqlType: 'text', category: 'S' };

/**
 * `unnest($1::text[], $2::text[], ...) WITH ORDINALITY AS u(c0, c1, ..., i)`, one text array per column of
 * values in their text form, and the expression that casts each back to its column's type.
 */
function unnestOf(columns: { type: PgTypeInfo; values: unknown[] }[], binary?: Buffer): { from: string; cols: string[]; params: (string | Buffer)[]; binary: string } {
  const params: (string | Buffer)[] = columns.map((c) => textArray(c.type, c.values));
  const names = columns.map((_, j) => `c${j}`);
  const arrays = columns.map((_, j) => `$${j + 1}::text[]`);
  if (binary) {
    params.push(binary);
    arrays.push(`$${params.length}::bytea[]`);
    names.push('b');
  }
  return {
    from: `unnest(${arrays.join(', ')}) WITH ORDINALITY AS u(${names.join(', ')}, i)`,
    cols: columns.map((c, j) => `u.${names[j]}::${baseType(c.type)}`),
    params,
    binary: 'u.b',
  };
}

/**
 * Tokens the server computes: 'pg1:' and the hex of a SHA-256 digest. Told apart by shape only (a regular
 * expression per row was a few percent of an apply); digestArray refuses one whose digest is not hex.
 */
const isPg1 = (token: string): boolean => token.length === 68 && token.startsWith('pg1:');

/** The digests of 'pg1:' tokens as a one-dimensional bytea[] in PostgreSQL's binary array format. */
function digestArray(tokens: string[]): Buffer {
  const b = Buffer.allocUnsafe(20 + tokens.length * 36);
  b.writeInt32BE(1, 0); // dimensions
  b.writeInt32BE(0, 4); // no NULLs
  b.writeInt32BE(17, 8); // element type: bytea
  b.writeInt32BE(tokens.length, 12);
  b.writeInt32BE(1, 16); // lower bound
  let o = 20;
  for (const t of tokens) {
    b.writeInt32BE(32, o);
    if (b.write(t.slice(4), o + 4, 32, 'hex') !== 32) throw new RedressError('INTERNAL', `not a pg1 token: ${t}`);
    o += 36;
  }
  return b;
}

/**
 * A text[] literal of values in their text form for a column of type `t` (encodeValue): every element
 * quoted, NULL for null. One pass per column: this runs for every value of every batch.
 */
function textArray(t: PgTypeInfo, values: unknown[]): string {
  const json = t.name === 'json' || t.name === 'jsonb';
  let s = '{';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) s += ',';
    const v = values[i];
    // A string is its own text form for every type but json (where it is a JSON string): as encodeValue.
    const x = typeof v === 'string' && !json ? v : textOf(encodeValue(t, v));
    if (x === null) s += 'NULL';
    else s += '"' + (x.includes('"') || x.includes('\\') ? x.replace(/[\\"]/g, '\\$&') : x) + '"';
  }
  return s + '}';
}

/**
 * A named (prepared) statement: PostgreSQL plans it once per connection instead of for every batch.
 * The name is derived from the text, so a changed statement is a new one.
 */
function prepared(text: string, values: unknown[], arrays = false): pg.QueryConfig {
  return { name: 'redress_' + createHash('sha1').update(text).digest('hex').slice(0, 20), text, values, ...(arrays ? { rowMode: 'array' } : {}) };
}

/** A row's compare-and-set token rendered in JavaScript: the same bytes as PostgresTarget.tokenSql hashes. */
export function rowToken(schema: TableSchema, types: Map<string, PgTypeInfo> | undefined, row: StoredRow): string {
  let s = '';
  for (const c of schema.columns) {
    const x = renderForToken(types?.get(c.name), row[c.name] ?? null);
    s += x === null ? '~' : `${Buffer.byteLength(x)}:${x}`;
  }
  return 'pg1:' + createHash('sha256').update(s).digest('hex');
}

function renderForToken(t: PgTypeInfo | undefined, v: StoredValue): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number' && t && (t.name === 'float4' || t.name === 'float8')) {
    if (Number.isNaN(v)) return 'NaN';
    const b = Buffer.alloc(t.name === 'float4' ? 4 : 8);
    if (t.name === 'float4') b.writeFloatBE(Math.fround(v));
    else b.writeDoubleBE(v);
    return b.toString('hex');
  }
  switch (typeof v) {
    case 'string':
      return v;
    case 'bigint':
    case 'number':
      return String(v);
    case 'boolean':
      return v ? 'true' : 'false';
  }
  if (v instanceof Uint8Array) return '\\x' + Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
  return v.text; // TypedText and JsonText keep the server's own text
}

function textOf(e: Encoded): string | null {
  if (e === null) return null;
  return 'text' in e ? e.text : e.json;
}

/** One row as the JSON object json_populate_record reads: text forms as strings, json as a string of its text. */
function encodedDoc(enc: Record<string, Encoded>): string {
  return '{' + Object.entries(enc).map(([k, e]) => JSON.stringify(k) + ':' + (e === null ? 'null' : JSON.stringify('text' in e ? e.text : e.json))).join(',') + '}';
}

/** Errors that say a value does not fit a type (class 22: data exception, 23: integrity, e.g. a domain CHECK). */
function isValueError(e: unknown): boolean {
  const code = (e as { code?: string }).code ?? '';
  return /^2[23]/.test(code);
}

interface CatalogInfo {
  qualified: string;
  oid: number;
  columns: { name: string; type: string; notnull: boolean; typoid: number; baseoid: number; basename: string; basetype: string; category: string; elem: string | null; labels: string[] | null }[];
  keys: string[][];
}

/** One query ($1: the table's name as SQL writes it): its qualified name, columns with types (domains resolved), unique keys, enum labels. */
const CATALOG_SQL = catalogSql('to_regclass($1)');
/** The name CATALOG_SQL is prepared under on each connection (casWrite EXECUTEs it by name). */
const CATALOG_STATEMENT = 'redress-catalog';

function catalogSql(regclassExpr: string): string {
  return `WITH rel AS (SELECT ${regclassExpr} AS oid)
SELECT CASE WHEN rel.oid IS NULL THEN NULL ELSE json_build_object(
  'oid', rel.oid::int8,
  'qualified', (SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = rel.oid),
  'columns', (SELECT coalesce(json_agg(json_build_object(
      'name', a.attname, 'type', format_type(a.atttypid, a.atttypmod), 'notnull', a.attnotnull,
      'typoid', a.atttypid::int4, 'baseoid', b.oid::int4, 'basename', b.typname, 'basetype', format_type(b.oid, NULL), 'category', b.typcategory,
      'elem', e.typname,
      'labels', (SELECT json_agg(l.enumlabel ORDER BY l.enumsortorder) FROM pg_enum l WHERE l.enumtypid = coalesce(nullif(b.typelem, 0), b.oid))
    ) ORDER BY a.attnum), '[]'::json)
    FROM pg_attribute a
    JOIN pg_type t ON t.oid = a.atttypid
    JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
    LEFT JOIN pg_type e ON e.oid = b.typelem AND b.typcategory = 'A'
    WHERE a.attrelid = rel.oid AND a.attnum > 0 AND NOT a.attisdropped),
  'keys', (SELECT coalesce(json_agg(k.cols ORDER BY k.primary DESC, k.name), '[]'::json) FROM (
      SELECT i.indisprimary AS primary, ic.relname AS name,
        (SELECT json_agg(a.attname ORDER BY x.ord) FROM unnest(i.indkey[0:i.indnkeyatts - 1]) WITH ORDINALITY AS x(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = x.attnum) AS cols
      FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
      WHERE i.indrelid = rel.oid AND i.indisunique AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL) k)
) END::text AS info FROM rel`;
}

/** Adds the session settings Redress relies on to the connection string; a description without the password. */
export function withSessionOptions(connectionString: string, statementTimeoutMs: number): { url: string; description: string } {
  const u = new URL(connectionString);
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') throw new Error(`expected postgres://, got ${u.protocol}//`);
  const settings = { ...SESSION, statement_timeout: String(statementTimeoutMs) };
  const ours = Object.entries(settings)
    .map(([k, v]) => `-c ${k}=${v.replace(/[ ,]/g, (m) => '\\' + m)}`)
    .join(' ');
  const theirs = u.searchParams.get('options');
  u.searchParams.set('options', theirs ? `${theirs} ${ours}` : ours);
  const d = new URL(connectionString);
  d.password = '';
  d.search = '';
  return { url: u.toString(), description: `postgres://${d.username ? decodeURIComponent(d.username) + '@' : ''}${d.host}${d.pathname}` };
}

/** A connection failure as a TARGET error that says what to do. */
export function connectionError(description: string, e: unknown): RedressError {
  if (e instanceof RedressError) return e;
  const err = e as { code?: string; message?: string };
  const msg = err.message ?? String(e);
  const hint = (() => {
    switch (err.code) {
      case '28P01':
      case '28000':
        return 'The server refused the credentials: check the user and password in the connection string in redress.config.json (or in ~/.pgpass).';
      case '3D000':
        return 'The database does not exist: check the database name at the end of the connection string.';
      case 'ECONNREFUSED':
        return 'Nothing accepts connections there: check the host and port in redress.config.json, and that PostgreSQL is running.';
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
        return 'The host name does not resolve: check the host in redress.config.json.';
      case 'ETIMEDOUT':
        return 'The connection timed out: check the host, port and any firewall between here and the server.';
      case '57P03':
        return 'The server is starting up or shutting down: try again in a moment.';
      case '53300':
        return 'The server has no free connection slots: try again later or raise max_connections.';
    }
    if (/timeout/i.test(msg)) return 'The connection timed out: check the host, port and any firewall between here and the server.';
    return 'Check the connection string in redress.config.json and that the server is reachable.';
  })();
  return new RedressError('TARGET', `Cannot connect to the PostgreSQL target ${description}: ${msg}. ${hint} Nothing was written.`, { ...(err.code ? { sqlstate: err.code } : {}) });
}
