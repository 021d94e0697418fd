// Loads a correction and checks it against the target before anything runs: compile, manifest,
// table, expected columns and types, unique key, WHERE condition.
import { readFileSync } from 'node:fs';
import { RedressError } from '../../shared/errors';
import type { Manifest } from '../../shared/manifest';
import { canonical, rowHash, type StoredValue } from '../../shared/values';
import { compileCorrection, formatDiagnostics } from '../sandbox/compile';
import { Sandbox } from '../sandbox/sandbox';
import type { Column, KeyTuple, Scan, StoredRow, TableSchema, Target } from '../targets/target';

export interface Prepared {
  file: string;
  code: string;
  codeHash: string;
  manifest: Manifest;
  schema: TableSchema;
  scan: Scan;
  sandbox: Sandbox;
}

export interface RunContext {
  seed: number;
  now: number;
  params: Record<string, string>;
}

export async function compileOrThrow(file: string): Promise<{ code: string; codeHash: string; source: string }> {
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch (e) {
    throw new RedressError('COMPILE', `Cannot read the correction ${file}: ${(e as Error).message}. Check the path.`);
  }
  const compiled = await compileCorrection(file);
  if (!compiled.ok) {
    throw new RedressError('COMPILE', `${file} does not compile:\n${formatDiagnostics(compiled.diagnostics)}\nFix these errors and try again.`, { diagnostics: compiled.diagnostics });
  }
  return { code: compiled.code, codeHash: compiled.codeHash, source };
}

export async function prepare(file: string, target: Target, run: RunContext, expectCodeHash?: string): Promise<Prepared> {
  const { code, codeHash, source } = await compileOrThrow(file);
  if (expectCodeHash && codeHash !== expectCodeHash) {
    throw new RedressError('PLAN_STALE', `${file} changed since this run started (its compiled code no longer matches). Start a new dry-run to plan with the new code.`);
  }
  return prepareCompiled(file, code, codeHash, source, target, run);
}

export async function prepareCompiled(file: string, code: string, codeHash: string, source: string | null, target: Target, run: RunContext): Promise<Prepared> {
  const sandbox = await Sandbox.load(code, file, source, { seed: run.seed, now: run.now, params: run.params });
  try {
    const manifest = sandbox.manifest;
    const schema = await target.tableSchema(manifest.target.table);
    const scan: Scan = { table: manifest.target.table, key: manifest.target.key, ...(manifest.select?.where ? { where: manifest.select.where } : {}) };
    checkColumns(manifest, schema, target);
    await checkKey(scan, schema, target);
    try {
      await target.countRows(scan);
    } catch (e) {
      throw new RedressError('MANIFEST', `select.where of ${manifest.id} is not a valid condition on "${scan.table}": ${(e as Error).message}. Fix the condition in ${file}.`);
    }
    return { file, code, codeHash, manifest, schema, scan, sandbox };
  } catch (e) {
    await sandbox.close();
    throw e;
  }
}

function checkColumns(m: Manifest, schema: TableSchema, target: Target): void {
  const byName = new Map(schema.columns.map((c) => [c.name, c]));
  const problems: string[] = [];
  for (const [name, type] of Object.entries(m.expects)) {
    const c = byName.get(name);
    if (!c) problems.push(`column "${name}" does not exist`);
    else if (!target.typeMatches(c, type)) problems.push(`column "${name}" is ${c.type || 'untyped'}, but the correction expects ${type}`);
  }
  for (const k of m.target.key) if (!byName.has(k)) problems.push(`key column "${k}" does not exist`);
  if (problems.length) {
    throw new RedressError(
      'NO_COLUMN',
      `${m.id} does not fit table "${schema.table}": ${problems.join('; ')}. Columns there: ${schema.columns.map((c) => `${c.name} ${c.type}`.trim()).join(', ')}. Fix \`expects\` or \`target.key\`.`,
      { problems },
    );
  }
}

async function checkKey(scan: Scan, schema: TableSchema, target: Target): Promise<void> {
  const unique = schema.uniqueKeys.some((k) => k.length === scan.key.length && k.every((c) => scan.key.includes(c)));
  if (!unique) {
    const known = schema.uniqueKeys.map((k) => `[${k.join(', ')}]`).join(', ') || 'none';
    throw new RedressError(
      'NO_UNIQUE_KEY',
      `The key [${scan.key.join(', ')}] of "${scan.table}" is not declared unique (no primary key or unique index on exactly these columns). Unique keys there: ${known}. Redress needs a unique key to address every row exactly once: add a unique index or name one of these keys.`,
    );
  }
  const nullable = scan.key.filter((k) => !schema.columns.find((c) => c.name === k)!.notNull);
  if (nullable.length) {
    const n = await target.nullKeyRows(scan);
    if (n > 0) {
      throw new RedressError(
        'NO_UNIQUE_KEY',
        `The key [${scan.key.join(', ')}] of "${scan.table}" holds NULL in ${n} row(s) (column ${nullable.join(', ')} is nullable). NULL keys cannot address a row exactly once: choose a NOT NULL key, or fill those rows first.`,
      );
    }
  }
}

/** The row hash that compare-and-set writes name: every column, in the table's order, canonically. */
export function rowHasher(target: Target, schema: TableSchema): (row: StoredRow) => string {
  const cols = schema.columns;
  return (row) => rowHash(cols.map((c) => target.canonical(c, row[c.name] ?? null)));
}

/** Compare-and-set tokens for a batch of rows: the target's own when it has them, else the row hash. */
export function rowTokenizer(target: Target, schema: TableSchema): (rows: StoredRow[]) => string[] {
  if (target.rowTokens) return (rows) => target.rowTokens!(schema, rows);
  const hash = rowHasher(target, schema);
  return (rows) => rows.map(hash);
}

export function keyOf(row: StoredRow, key: string[]): KeyTuple {
  return key.map((k) => row[k] ?? null);
}

export function keyString(k: KeyTuple): string {
  return k.map((v) => canonical(v)).join('\u0000');
}

export function columnMap(schema: TableSchema): Map<string, Column> {
  return new Map(schema.columns.map((c) => [c.name, c]));
}

export type { StoredValue };
