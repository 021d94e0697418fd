// PostgreSQL for tests: the server on this machine (127.0.0.1:5432, trust auth; REDRESS_TEST_PG overrides).
// Each test file gets a schema of its own, dropped at the end; the target sees it through search_path.
// An unreachable server fails the tests with a message that says how to start it: nothing skips silently.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Engine } from '../../daemon/engine/engine';
import { Ledger, type RunRow } from '../../daemon/ledger/ledger';
import { PostgresTarget, type PostgresOptions } from '../../daemon/targets/postgres';

export const PG_URL = process.env.REDRESS_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface PgSchema {
  name: string;
  /** Connection string whose search_path is this schema. */
  url: string;
  /** A plain client of its own (another session: "live traffic"), search_path set. */
  client: pg.Client;
  sql(text: string, params?: unknown[]): Promise<pg.QueryResult>;
  /** A Redress target on this schema. */
  target(o?: PostgresOptions): Promise<PostgresTarget>;
  drop(): Promise<void>;
}

export async function pgSchema(prefix = 't'): Promise<PgSchema> {
  const name = `redress_${prefix}_${randomBytes(5).toString('hex')}`;
  const client = new pg.Client({ connectionString: PG_URL, application_name: 'redress-test' });
  try {
    await client.connect();
  } catch (e) {
    throw new Error(
      `PostgreSQL is not reachable at ${PG_URL} (${(e as Error).message}). The PostgreSQL tests need it: start it with ` +
        '`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` (.ci/run does this), or set REDRESS_TEST_PG.',
    );
  }
  await client.query(`CREATE SCHEMA ${name}`);
  await client.query(`SET search_path = ${name}`);
  const u = new URL(PG_URL);
  u.searchParams.set('options', `-c search_path=${name}`);
  const targets: PostgresTarget[] = [];
  return {
    name,
    url: u.toString(),
    client,
    sql: (text, params) => client.query(text, params),
    async target(o) {
      const t = await PostgresTarget.open(u.toString(), o);
      targets.push(t);
      return t;
    },
    async drop() {
      for (const t of targets) await t.close().catch(() => {});
      await client.query(`DROP SCHEMA ${name} CASCADE`);
      await client.end();
    },
  };
}

/** A temp workspace whose target is this schema (for tests through a real daemon). */
export function pgWorkspace(s: PgSchema, prefix = 'redress-pg-'): { dir: string; correction(name: string, source: string): string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  writeFileSync(join(dir, 'redress.config.json'), JSON.stringify({ target: { kind: 'postgres', connectionString: s.url } }));
  mkdirSync(join(dir, 'corrections'));
  return {
    dir,
    correction(name, source) {
      const p = join(dir, 'corrections', `${name}.correction.ts`);
      writeFileSync(p, source);
      return p;
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Every row as PostgreSQL itself renders it: the exact stored state, for before/after comparisons. */
export async function tableText(s: PgSchema, table: string, orderBy: string): Promise<string[]> {
  const r = await s.client.query<{ t: string }>(`SELECT row_to_json(x)::text AS t FROM ${table} x ORDER BY ${orderBy}`);
  return r.rows.map((x) => x.t);
}

/** The engine in this process against a PostgreSQL target (no daemon): for property tests and fault hooks. */
export interface PgEngine {
  dir: string;
  engine: Engine;
  ledger: Ledger;
  target: PostgresTarget;
  /** What the engine logged (run notes such as throttling waits). */
  logs: string[];
  correction(name: string, source: string): string;
  /** Runs to its end and returns the run; `start` returns a run id. */
  run(start: Promise<string> | string): Promise<RunRow>;
  close(): Promise<void>;
}

export async function pgEngine(s: PgSchema, o?: PostgresOptions): Promise<PgEngine> {
  const dir = mkdtempSync(join(tmpdir(), 'redress-pg-engine-'));
  mkdirSync(join(dir, 'corrections'));
  const target = await s.target(o);
  const ledger = new Ledger(join(dir, 'ledger.sqlite'));
  const logs: string[] = [];
  const engine = new Engine(ledger, target, dir, (m) => logs.push(m));
  return {
    dir,
    engine,
    ledger,
    target,
    logs,
    correction(name, source) {
      const p = join(dir, 'corrections', `${name}.correction.ts`);
      writeFileSync(p, source);
      return p;
    },
    async run(start) {
      const id = await start;
      await engine.settled(id);
      return ledger.requireRun(id);
    },
    async close() {
      await engine.stopAll();
      ledger.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The correction most PostgreSQL tests run: lower-case `people.email`, keyed by id, in batches of `batchSize`. */
/**
 * `accounts` (region, id) with mixed-case emails, `perRegion` rows in each of three regions, and a
 * `writes` table the server fills with the key of every write a row receives (a trigger), so a test can
 * count how many times each row was written.
 */
export async function accountsWithWriteLog(s: PgSchema, perRegion: number): Promise<void> {
  await s.sql(`CREATE TABLE accounts (region text, id int4, email text NOT NULL, PRIMARY KEY (region, id))`);
  await s.sql(`INSERT INTO accounts SELECT r, i, 'User' || i || '@' || upper(r) || '.Example' FROM unnest(ARRAY['eu', 'us', 'ap']) r, generate_series(1, ${perRegion}) i`);
  await s.sql(`CREATE TABLE writes (region text, id int4)`);
  await s.sql(`CREATE FUNCTION log_write() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO writes VALUES (NEW.region, NEW.id); RETURN NEW; END $$`);
  await s.sql(`CREATE TRIGGER log_write AFTER UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION log_write()`);
}

/** Lower-cases `accounts.email` (see accountsWithWriteLog): a correction with a composite key. */
export function lowerAccountEmailCorrection(batchSize?: number): string {
  return `import { defineCorrection } from 'redress';
export default defineCorrection<{ region: string; id: number; email: string }>({
  id: 'lower-email', description: 'lower-case emails', target: { table: 'accounts', key: ['region', 'id'] },
  expects: { email: 'text' },
  transform: (row) => ({ email: row.email.toLowerCase() }),${batchSize ? `\n  options: { batchSize: ${batchSize} },` : ''}
});`;
}

export function lowerEmailCorrection(batchSize: number): string {
  return `import { defineCorrection } from 'redress';
export default defineCorrection<{ id: number; email: string }>({
  id: 'lower-email', description: 'lower-case emails', target: { table: 'people', key: 'id' },
  expects: { email: 'text' },
  transform: (row) => ({ email: row.email.toLowerCase() }),
  options: { batchSize: ${batchSize} },
});`;
}
