// Typed rows: the generated types make a column typo a type error in the editor. Checked with the
// TypeScript compiler itself on a workspace laid out as the extension writes it (no tsconfig paths).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import ts from 'typescript';
import type { TableInfo } from '../../shared/protocol';
import { apiDeclaration, generatedFingerprint, renderTableTypes, rowTypeName, scaffoldCorrection, tsType, typesFileName, writeTypes } from '../../extension/typedRows';

const apiSource = readFileSync(join(__dirname, '..', '..', 'shared', 'correction.ts'), 'utf8');
const movies: TableInfo = {
  table: 'movies',
  columns: [
    { name: 'id', type: 'INTEGER', notNull: true },
    { name: 'title', type: '', notNull: false },
    { name: 'release_date', type: 'TEXT', notNull: false },
    { name: 'imdb_rating', type: 'REAL', notNull: false },
    { name: 'Running Time', type: 'INTEGER', notNull: false },
  ],
  uniqueKeys: [['id']],
  fingerprint: 'fp1',
};

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Type-checks `source` as corrections/<name>.correction.ts beside the generated types; returns the errors. */
function typeErrors(source: string): string[] {
  const ws = mkdtempSync(join(tmpdir(), 'redress-types-'));
  dirs.push(ws);
  const corrections = join(ws, 'corrections');
  mkdirSync(corrections);
  writeTypes(join(corrections, 'types'), [movies], 'sqlite', 'sqlite:/db', apiSource);
  const file = join(corrections, 'fix.correction.ts');
  writeFileSync(file, source);
  // redress.d.ts as a root too: a correction that imports no generated row type still sees 'redress'.
  const program = ts.createProgram([file, join(corrections, 'types', 'redress.d.ts')], { strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler, types: [], lib: ['lib.es2022.d.ts'] });
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

test('a correction scaffolded for a table type-checks against the generated row type', () => {
  const src = scaffoldCorrection({ id: 'fix', table: movies, typesImport: './types/movies' });
  assert.match(src, /import type \{ MoviesRow \} from '\.\/types\/movies';/);
  assert.match(src, /target: \{ table: 'movies', key: 'id' \}/);
  assert.match(src, /transform\(row, ctx\): TransformResult<MoviesRow> \{/);
  assert.deepEqual(typeErrors(src), []);
});

test('a misspelt column in the object the scaffolded transform returns is a type error', () => {
  // The scaffold as New Correction writes it, with a body that returns changed fields.
  const scaffold = scaffoldCorrection({ id: 'fix', table: movies, typesImport: './types/movies' }).replace(
    "return ctx.skip('not written yet');",
    "if (row.release_date === null) return ctx.skip('none');\n    return { release_date: row.release_date.trim(), imdb_rating: 7.5 };",
  );
  assert.deepEqual(typeErrors(scaffold), []);
  // One column right and one misspelt: the case an inferred return type lets through.
  const typo = typeErrors(scaffold.replace('imdb_rating: 7.5', 'imdb_ratng: 7.5'));
  assert.ok(typo.some((e) => /Object literal may only specify known properties, and 'imdb_ratng' does not exist/.test(e)), typo.join('\n') || 'no error');
  // A value of the wrong type for a real column is one too.
  assert.ok(typeErrors(scaffold.replace('imdb_rating: 7.5', "imdb_rating: 'high'")).length > 0);
  // An arrow function annotated the same way is checked the same way.
  const arrow = scaffold.replace(/transform\(row, ctx\): TransformResult<MoviesRow> \{[\s\S]*?\n  \},/, "transform: (row): TransformResult<MoviesRow> => ({ release_date: 'x', relase_date: 'y' }),");
  assert.notEqual(arrow, scaffold);
  assert.ok(typeErrors(arrow).some((e) => /'relase_date' does not exist/.test(e)));
});

test('columns autocomplete as typed properties; reading a misspelt column or writing a wrong type is a type error', () => {
  const ok = `import { defineCorrection } from 'redress';
import type { MoviesRow } from './types/movies';
export default defineCorrection<MoviesRow>({
  id: 'fix', description: 'x', target: { table: 'movies', key: 'id' }, expects: { release_date: 'text' },
  transform(row, ctx) {
    if (row.release_date === null) return ctx.skip('none');
    const n: number = row.id;
    return { release_date: row.release_date.trim(), imdb_rating: n > 0 ? row.imdb_rating : null, 'Running Time': row['Running Time'] };
  },
});`;
  assert.deepEqual(typeErrors(ok), []);
  const readTypo = typeErrors(ok.replace('row.release_date.trim()', 'row.relase_date.trim()'));
  assert.ok(readTypo.some((e) => /Property 'relase_date' does not exist on type 'Readonly<MoviesRow>'/.test(e)), readTypo.join('\n'));
  const wrongType = typeErrors(ok.replace("row.release_date.trim()", '42'));
  assert.ok(wrongType.length > 0, 'a number into a text column is a type error');
  // Unannotated, the transform's return type is inferred, and TypeScript checks an object literal for
  // unknown properties only against a declared type: a returned object with no real column at all is
  // refused (a weak-type error), one with a real column beside a misspelt one is not (the daemon then
  // quarantines its rows: 'transform returned column "…", which "movies" does not have').
  const onlyTypo = typeErrors(ok.replace(/return \{ release_date: [^\n]*\};/, 'return { relase_date: row.release_date.trim() };'));
  assert.ok(onlyTypo.length > 0, 'a returned object with no real column is a type error');
});

test('the example corrections (unannotated transforms, inline row types) still type-check', () => {
  const dir = join(__dirname, '..', '..', 'examples', 'movies', 'corrections');
  for (const f of ['fix-release-century', 'numeric-titles', 'release-date-iso']) {
    assert.deepEqual(typeErrors(readFileSync(join(dir, `${f}.correction.ts`), 'utf8')), [], f);
  }
});

test('the API declaration is the API source with the one function body removed', () => {
  const d = apiDeclaration(apiSource);
  assert.match(d, /^\/\/ Generated by Redress/);
  assert.match(d, /declare module 'redress' \{/);
  assert.match(d, /export function defineCorrection<R extends Row = Row>\(spec: CorrectionSpec<R>\): Correction<R>;/);
  assert.ok(!d.includes('Object.assign'), 'no function body');
  for (const name of ['ColumnType', 'TransformContext', 'CorrectionSpec', 'Skip', 'Quarantine']) assert.match(d, new RegExp(`export (type|interface) ${name}\\b`));
});

test('SQLite declared types map by affinity; NOT NULL drops null; odd names are quoted', () => {
  assert.equal(tsType('sqlite', 'VARCHAR(20)').type, 'string');
  assert.equal(tsType('sqlite', 'BIGINT').type, 'number');
  assert.equal(tsType('sqlite', 'DOUBLE').type, 'number');
  assert.equal(tsType('sqlite', 'BLOB').type, 'Uint8Array');
  assert.equal(tsType('sqlite', 'DECIMAL(10,2)').type, 'number | string');
  assert.equal(tsType('sqlite', '').type, 'string | number | bigint | Uint8Array');
  assert.equal(tsType('postgres', 'numeric(12,2)').type, 'string');
  assert.equal(tsType('postgres', 'int8').type, 'number | bigint');
  assert.equal(tsType('postgres', 'jsonb').type, 'unknown');
  assert.equal(tsType('postgres', 'text[]').type, '(string)[]');
  const src = renderTableTypes(movies, 'sqlite', 'sqlite:/db');
  assert.match(src, /^ {2}id: number;$/m);
  assert.match(src, /^ {2}release_date: string \| null;$/m);
  assert.match(src, /^ {2}"Running Time": number \| null;$/m);
  assert.equal(generatedFingerprint(src), 'fp1');
  assert.equal(rowTypeName('order_items'), 'OrderItemsRow');
  assert.equal(rowTypeName('2024 sales'), 'T2024SalesRow');
  assert.equal(typesFileName('a/b'), 'a_b.ts');
});

test('regenerating rewrites only what changed, and never a file Redress did not write', () => {
  const folder = mkdtempSync(join(tmpdir(), 'redress-types-'));
  dirs.push(folder);
  const first = writeTypes(folder, [movies], 'sqlite', 'sqlite:/db', apiSource);
  assert.deepEqual(first.changed, ['movies']);
  assert.deepEqual(writeTypes(folder, [movies], 'sqlite', 'sqlite:/db', apiSource).changed, []);
  const altered = { ...movies, columns: [...movies.columns, { name: 'budget', type: 'INTEGER', notNull: false }], fingerprint: 'fp2' };
  assert.deepEqual(writeTypes(folder, [altered], 'sqlite', 'sqlite:/db', apiSource).changed, ['movies']);
  assert.equal(generatedFingerprint(readFileSync(join(folder, 'movies.ts'), 'utf8')), 'fp2');
  writeFileSync(join(folder, 'movies.ts'), 'export interface Mine {}\n');
  assert.throws(() => writeTypes(folder, [movies], 'sqlite', 'sqlite:/db', apiSource), /was not generated by Redress/);
});
