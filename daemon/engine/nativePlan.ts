// A plan's native part, for targets that apply a plan in SQL (SQLite): one SQLite file per plan,
// .redress/plans/<sha256 of its bytes>.sqlite, holding each changed row's key, whole before-row and changed
// after-values exactly as the target stores them, with its place in canary order. The target attaches
// the file and runs each batch as one set-based compare-and-set UPDATE; no row passes through
// JavaScript. Sealed when the dry-run completes (VACUUM INTO: the same rows give the same bytes) and
// hashed by its bytes, so checking it before an apply is one read of the file, not a pass over every
// plan row.
import Database from 'better-sqlite3';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readSync, renameSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { coerceError, RedressError } from '../../shared/errors';
import type { StoredValue } from '../../shared/values';
import { sqliteOptions } from '../sqliteBinding';

/** One changed row as the native plan holds it. */
export interface NativeRow {
  seq: number;
  /** The changed columns, by index in the table's column order. */
  changed: number[];
  key: StoredValue[];
  /** Every column, in table order. */
  before: StoredValue[];
  /** Every column, in table order; only the changed ones are stored. */
  after: StoredValue[];
  canaryBucket: number;
  canaryRank: string;
}

const plansDir = (ledgerPath: string) => join(dirname(ledgerPath), 'plans');

/** Where a sealed native plan lives: named by its hash, so the same plan made twice is one file. */
export function nativePlanPath(ledgerPath: string, nativeFileHash: string): string {
  return join(plansDir(ledgerPath), `${nativeFileHash}.sqlite`);
}

/**
 * Writes a dry-run's native plan as the run goes (a working file, resumable), then seals it. Rows of a
 * batch go in before the ledger's checkpoint of that batch, so a resumed run first drops rows past its
 * checkpoint (truncateFrom) and writes them again.
 */
export class NativePlanWriter {
  private readonly db: Database.Database;
  private readonly masks = new Map<string, number>();
  private readonly insert: Database.Statement;

  private readonly working: string;

  constructor(readonly ledgerPath: string, dryRunId: string, keyColumns: number, columns: number) {
    const working = (this.working = join(plansDir(ledgerPath), `${dryRunId}.working.sqlite`));
    try {
      mkdirSync(dirname(working), { recursive: true });
      this.db = new Database(working, sqliteOptions());
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.defaultSafeIntegers(true);
      const k = Array.from({ length: keyColumns }, (_, i) => `k${i}`);
      const b = Array.from({ length: columns }, (_, i) => `b${i}`);
      const a = Array.from({ length: columns }, (_, i) => `a${i}`);
      // Untyped columns (no affinity): every value keeps its storage class, -0.0 and integers beyond 2^53 included.
      this.db.exec(`CREATE TABLE IF NOT EXISTS masks (id INTEGER PRIMARY KEY, columns TEXT NOT NULL UNIQUE);
        CREATE TABLE IF NOT EXISTS cas (seq INTEGER PRIMARY KEY, mask INTEGER NOT NULL, bucket INTEGER NOT NULL, rank TEXT NOT NULL, ${[...k, ...b, ...a].join(', ')})`);
      for (const r of this.db.prepare('SELECT id, columns FROM masks').all() as { id: bigint; columns: string }[]) this.masks.set(r.columns, Number(r.id));
      this.insert = this.db.prepare(`INSERT OR REPLACE INTO cas VALUES (${Array(4 + keyColumns + 2 * columns).fill('?').join(', ')})`);
    } catch (e) {
      throw new RedressError('LEDGER', `Cannot write the plan file ${working}: ${coerceError(e).message}. Check that the folder is writable and the disk is not full.`);
    }
  }

  /** Drops rows at or past `seq`: a batch written before a crash and not checkpointed. */
  truncateFrom(seq: number): void {
    this.db.prepare('DELETE FROM cas WHERE seq >= ?').run(seq);
  }

  write(rows: NativeRow[]): void {
    try {
      this.db.transaction(() => {
        for (const r of rows) {
          const mask = this.maskId(r.changed);
          const after = r.after.map((v, i) => (r.changed.includes(i) ? v : null));
          this.insert.run(r.seq, mask, r.canaryBucket, r.canaryRank, ...r.key.map(bindable), ...r.before.map(bindable), ...after.map(bindable));
        }
      })();
    } catch (e) {
      throw new RedressError('LEDGER', `Cannot write the plan file ${this.working}: ${coerceError(e).message}. Check that the disk is not full, then resume the dry-run.`);
    }
  }

  private maskId(changed: number[]): number {
    const k = JSON.stringify(changed);
    let id = this.masks.get(k);
    if (id === undefined) {
      id = this.masks.size;
      this.db.prepare('INSERT INTO masks (id, columns) VALUES (?, ?)').run(id, k);
      this.masks.set(k, id);
    }
    return id;
  }

  /**
   * Compacts the rows into the sealed file (read-only from now on) and returns the hash of its bytes.
   * A file of that name already there is replaced: the same bytes, or a damaged copy of them.
   */
  seal(): string {
    const tmp = `${this.working}.sealing`;
    rmSync(tmp, { force: true });
    this.db.prepare('VACUUM INTO ?').run(tmp);
    this.db.close();
    const hash = fileHash(tmp);
    chmodSync(tmp, 0o444);
    renameSync(tmp, nativePlanPath(this.ledgerPath, hash));
    for (const f of [this.working, `${this.working}-wal`, `${this.working}-shm`]) rmSync(f, { force: true });
    return hash;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/** sha256 of a file's bytes, read in 1 MiB pieces. */
export function fileHash(path: string): string {
  const h = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

/**
 * Checks a sealed native plan before a target attaches it: its bytes hash to `expect`, and no journal
 * beside it could change what SQLite reads (a hot journal is rolled back on open).
 */
export function checkSealed(path: string, expect: string): string | null {
  if (!existsSync(path)) return `its plan file ${path} is missing (deleted or moved)`;
  for (const j of ['-journal', '-wal']) if (existsSync(path + j)) return `a journal (${path}${j}) lies beside its plan file`;
  if (fileHash(path) !== expect) return `its plan file ${path} was changed after the plan was made`;
  return null;
}

/** Which plan rows a run covers, in the terms both the JavaScript path and SQL can test. */
export type SliceCond = { kind: 'all' } | { kind: 'percent'; percent: number } | { kind: 'rank'; max: string };
export interface Slice {
  keep: SliceCond | null;
  drop: SliceCond | null;
  /** Only rows with seq <= upTo (rollback, verify: what the apply got to). */
  upTo?: number;
}

/** The slice as an SQL condition on the native plan's rows (alias `p`), with its parameters. */
export function sliceSql(s: Slice): { sql: string; params: unknown[] } {
  const parts: string[] = [];
  const params: unknown[] = [];
  const cond = (c: SliceCond): string => {
    if (c.kind === 'all') return '1';
    if (c.kind === 'percent') {
      params.push(c.percent);
      return 'p.bucket / 100.0 < ?';
    }
    params.push(c.max);
    return 'p.rank <= ?';
  };
  if (s.keep) parts.push(cond(s.keep));
  if (s.drop) parts.push(`NOT (${cond(s.drop)})`);
  if (s.upTo !== undefined) {
    parts.push('p.seq <= ?');
    params.push(s.upTo);
  }
  return { sql: parts.length ? parts.join(' AND ') : '1', params };
}

export function bindable(v: StoredValue): unknown {
  if (v instanceof Uint8Array && !Buffer.isBuffer(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (typeof v === 'boolean') return v ? 1n : 0n;
  if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) return v.toString();
  return v;
}
