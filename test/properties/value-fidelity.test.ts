// Safety contract 9, value fidelity: no value changes by passing through Redress, and a diff shows only
// real changes. Through the real daemon, on random tables (every declared type SQLite has an affinity
// for, values of every storage class: integers beyond 2^53 and up to 64 bits, floats with -0.0 and
// ±Infinity, NULL and '', unicode graphemes and astral code points, NUL characters, blobs, JSON text):
//  - an identity transform (`return {}`) and one that hands the row back (`return { ...row }`) plan
//    zero changes;
//  - a transform that sets one column changes that column only: every other column keeps its value
//    and storage class; the changed column holds exactly what SQLite itself stores for the returned
//    value in a column of that declared type (an independent scratch table is the oracle); NULL -> 'x'
//    and '' -> NULL are changes, NULL -> NULL is not; a value SQLite cannot store as given (NaN, which
//    it would turn into NULL; NULL in a NOT NULL column; an integer beyond 64 bits) is quarantined with
//    the reason, never written as something else;
//  - a column declared JSON given the same document with its keys in another order is not a change,
//    and keeps its text when another column of the row changes.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { canonicalJson } from '../../shared/values';
import { dryRun, makeWorkspace, runToEnd, startTestDaemon, type RunningDaemon, type Workspace } from '../helpers/harness';
import { plannedRows, withDb } from '../helpers/lifecycle';
import {
  assertProperty,
  bindable,
  correctionSource,
  createTable,
  exactFromWire,
  jsLiteral,
  jsonDocArb,
  keyString,
  keyStringFromWire,
  readExact,
  renderJson,
  resolvePatch,
  SAME,
  shapeArb,
  tableArb,
  valueArb,
  type Patch,
  type SqlValue,
  type TableSpec,
} from '../helpers/tables';

let ws: Workspace;
let d: RunningDaemon;
let n = 0;

before(async () => {
  ws = makeWorkspace(() => {}, 'redress-fidelity-');
  d = await startTestDaemon(ws);
});
after(async () => {
  await d?.stop();
  ws?.cleanup();
});

/** SQLite's column affinity (https://www.sqlite.org/datatype3.html, 3.1), written out again here. */
function affinity(declared: string): string {
  const t = declared.toUpperCase();
  if (t.includes('INT')) return 'INTEGER';
  if (t.includes('CHAR') || t.includes('CLOB') || t.includes('TEXT')) return 'TEXT';
  if (t === '' || t.includes('BLOB')) return 'BLOB';
  if (t.includes('REAL') || t.includes('FLOA') || t.includes('DOUB')) return 'REAL';
  return 'NUMERIC';
}

const oracle = new Database(':memory:');
oracle.defaultSafeIntegers(true);

/**
 * What SQLite stores for a value a transform returns, in a column of this declared type, as readExact
 * shows it; or why it cannot be stored as given. Binding as documented: integers as bigint; a whole JS
 * number for a column without affinity is an integer when it fits in 64 bits (as in SQL).
 */
function storedAs(type: string, notNull: boolean, v: SqlValue): [string, unknown] | { unfit: RegExp } {
  if (v === null && notNull) return { unfit: /NOT NULL/ };
  if (typeof v === 'number' && Number.isNaN(v)) return { unfit: /NaN/ };
  if (typeof v === 'bigint' && (v < -(2n ** 63n) || v > 2n ** 63n - 1n)) return { unfit: /64-bit/ };
  let b: unknown = bindable(v);
  if (typeof v === 'number' && Number.isInteger(v) && !Object.is(v, -0) && affinity(type) === 'BLOB' && v >= -(2 ** 63) && v < 2 ** 63) b = BigInt(v);
  oracle.exec(`DROP TABLE IF EXISTS o; CREATE TABLE o (c ${type})`);
  const r = oracle.prepare('INSERT INTO o VALUES (?) RETURNING c, typeof(c) AS t').get(b) as { c: unknown; t: string };
  return [r.t, r.c];
}

function sameCell(type: string, a: [string, unknown], b: [string, unknown]): boolean {
  if (a[0] !== b[0]) return false;
  if (Buffer.isBuffer(a[1]) && Buffer.isBuffer(b[1])) return a[1].equals(b[1]);
  if (Object.is(a[1], b[1])) return true;
  if (a[0] === 'text' && /JSON/i.test(type)) {
    // The documented exception: a JSON column compares documents (key order and white space are not
    // changes; the JSON-order test below checks that independently).
    try {
      return canonicalJson(a[1] as string) === canonicalJson(b[1] as string);
    } catch {
      return false;
    }
  }
  return false;
}

/** Whether a transform returned exactly the value it was given for a stored value (integers within 2^53 reach it as numbers). */
function handedBack(returned: SqlValue, [cls, stored]: [string, unknown]): boolean {
  const given = cls === 'integer' && (stored as bigint) >= -(2n ** 53n) + 1n && (stored as bigint) <= 2n ** 53n - 1n ? Number(stored) : stored;
  if (returned instanceof Uint8Array && Buffer.isBuffer(given)) return Buffer.from(returned).equals(given);
  return Object.is(returned, given);
}

/** New values for one column, biased to the pairs that matter: NULL and '' both ways, and the same value. */
const newValueArb = fc.oneof(
  { arbitrary: valueArb, weight: 6 },
  { arbitrary: fc.constantFrom<SqlValue>(null, '', 'x', -0, NaN, Infinity, 2n ** 64n, -(2n ** 63n) - 1n, 2n ** 63n - 1n), weight: 2 },
  { arbitrary: fc.constant<typeof SAME>(SAME), weight: 1 },
);

test('an identity transform and one returning the row unchanged plan zero changes on any table', async () => {
  await assertProperty(
    fc.asyncProperty(
      shapeArb({ minRows: 1, maxRows: 60, maxCols: 6 }).chain((shape) => fc.tuple(tableArb(shape, 't'), fc.integer({ min: 1, max: 20 }))),
      async ([generated, batch]) => {
        const spec = { ...generated, table: `t${++n}` };
        withDb(ws, (db) => createTable(db, spec));
        const rows = spec.rows.length;
        for (const [name, transform] of [
          ['empty', 'return {};'],
          ['spread', 'return { ...row };'],
        ]) {
          const dry = await dryRun(d.client, ws.correction(`${spec.table}-${name}`, correctionSource({ id: `identity-${name}-${spec.table}`, spec, transform })), batch);
          const { scanned, changed, unchanged, quarantined } = dry.counts;
          const why = changed ? JSON.stringify((await plannedRows(d.client, dry.id)).slice(0, 3)) : '';
          assert.deepEqual({ scanned, changed, unchanged, quarantined }, { scanned: rows, changed: 0, unchanged: rows, quarantined: 0 }, `${transform} ${why}`);
        }
      },
    ),
    { numRuns: 40, endOnFailure: true },
  );
});

test('a transform that changes one column leaves every other value and storage class untouched, and stores exactly what SQLite stores for the new value', async (t) => {
  const caseArb = shapeArb({ minRows: 1, maxRows: 60, maxCols: 4 })
    .chain((shape) => fc.tuple(fc.constant(shape), fc.nat(shape.cols.length - 1), fc.boolean()))
    .chain(([shape, x, notNull]) => {
      // Sometimes the changed column is NOT NULL (its values then never NULL or NaN to begin with).
      const cols = shape.cols.map((c, i) => (i === x ? { ...c, notNull } : c));
      const xValue = valueArb.filter((v) => !(notNull && (v === null || (typeof v === 'number' && Number.isNaN(v)))));
      return tableArb({ ...shape, cols }, 't', (c) => (c.name === cols[x]!.name ? xValue : valueArb)).chain((spec) =>
        fc.record({
          spec: fc.constant(spec),
          x: fc.constant(x),
          values: fc.array(fc.option(newValueArb, { nil: undefined, freq: 4 }), { minLength: spec.rows.length, maxLength: spec.rows.length }),
          batch: fc.integer({ min: 1, max: 20 }),
        }),
      );
    });
  const seen = { nullToText: 0, emptyToNull: 0, nullToNull: 0, unfit: 0, bigBeyond53: 0, negZero: 0, infinity: 0, blob: 0, astral: 0 };
  await assertProperty(
    fc.asyncProperty(caseArb, async ({ spec: generated, x, values, batch }) => {
      const spec: TableSpec = { ...generated, table: `t${++n}` };
      const col = spec.cols[x]!;
      withDb(ws, (db) => createTable(db, spec));
      const original = withDb(ws, (db) => readExact(db, spec));
      const patches: (Patch | null)[] = values.map((v) => (v === undefined ? null : { [col.name]: v }));
      // The oracle, row by row: changed (to what), unchanged, or quarantined (why).
      const expect = new Map<string, { after: [string, unknown] } | { unfit: RegExp } | 'unchanged'>();
      spec.rows.forEach((row, i) => {
        const key = keyString(spec.keys.map((k) => row[k.name]));
        const p = patches[i];
        if (!p) return expect.set(key, 'unchanged');
        const v = resolvePatch(row, p)[col.name]!;
        const before = original.find((r) => r.key === key)!.cells[col.name]!;
        // Documented: handing back the value it was given is not a change, whatever the column's type
        // (a REAL 0.0 and an INTEGER 0 both reach the transform as the number 0).
        if (before[0] === 'null' && v === null) seen.nullToNull++;
        if (handedBack(v, before)) return expect.set(key, 'unchanged');
        const s = storedAs(col.type, col.notNull, v);
        if (!Array.isArray(s)) {
          seen.unfit++;
          return expect.set(key, s);
        }
        if (before[0] === 'null' && s[0] === 'text') seen.nullToText++;
        if (before[0] === 'text' && before[1] === '' && s[0] === 'null') seen.emptyToNull++;
        if (typeof v === 'bigint' && (v > 2n ** 53n || v < -(2n ** 53n))) seen.bigBeyond53++;
        if (Object.is(v, -0)) seen.negZero++;
        if (v === Infinity || v === -Infinity) seen.infinity++;
        if (v instanceof Uint8Array) seen.blob++;
        if (typeof v === 'string' && /[\u{10000}-\u{10FFFF}]/u.test(v)) seen.astral++;
        expect.set(key, sameCell(col.type, s, before) ? 'unchanged' : { after: s });
      });
      const dry = await dryRun(d.client, ws.correction(spec.table, correctionSource({ id: `one-column-${spec.table}`, spec, patches })), batch);
      const want = [...expect.values()];
      assert.deepEqual(
        [dry.counts.changed, dry.counts.unchanged, dry.counts.quarantined],
        [want.filter((e) => typeof e === 'object' && 'after' in e).length, want.filter((e) => e === 'unchanged').length, want.filter((e) => typeof e === 'object' && 'unfit' in e).length],
        'changed / unchanged / quarantined',
      );
      for (const r of await plannedRows(d.client, dry.id)) {
        const e = expect.get(keyStringFromWire(spec, r.key));
        assert.deepEqual(Object.keys(r.changes), [col.name], 'only the column the transform sets changes');
        assert.ok(e && typeof e === 'object' && 'after' in e);
        assert.deepStrictEqual(exactFromWire(r.changes[col.name]!.after), e.after, 'the plan shows the value SQLite stores');
      }
      const quarantined = await d.client.request('diffs', { runId: dry.id, status: 'quarantined', limit: 5000 });
      for (const r of quarantined.rows) {
        const e = expect.get(keyStringFromWire(spec, r.key));
        assert.ok(e && typeof e === 'object' && 'unfit' in e, `quarantined: ${r.reason}`);
        assert.match(r.reason ?? '', e.unfit);
      }

      const applied = await runToEnd(d.client, d.client.request('apply', { planId: dry.planId!, batchSize: batch }));
      assert.equal(applied.status, 'completed', applied.message ?? '');
      assert.equal(applied.apply.applied, dry.counts.changed);
      const now = withDb(ws, (db) => readExact(db, spec));
      assert.deepStrictEqual(
        now,
        original.map((r) => {
          const e = expect.get(r.key)!;
          return typeof e === 'object' && 'after' in e ? { key: r.key, cells: { ...r.cells, [col.name]: e.after } } : r;
        }),
      );
    }),
    { numRuns: 50, endOnFailure: true },
  );
  t.diagnostic(`value kinds seen: ${JSON.stringify(seen)}`);
  assert.ok(seen.nullToText > 0 && seen.emptyToNull > 0 && seen.nullToNull > 0 && seen.unfit > 0 && seen.bigBeyond53 > 0 && seen.negZero > 0 && seen.blob > 0, JSON.stringify(seen));
});

test('a JSON column given the same document with its keys in another order is not a change, and keeps its text when another column changes', async () => {
  const caseArb = fc.record({
    docs: fc.array(fc.tuple(jsonDocArb.filter((doc) => 'o' in doc && doc.o.length > 1), fc.boolean(), fc.string({ unit: 'grapheme', maxLength: 5 })), { minLength: 1, maxLength: 40 }),
    type: fc.constantFrom('JSON', 'json', 'JSONB', 'TEXT JSON'),
  });
  await assertProperty(
    fc.asyncProperty(caseArb, async ({ docs, type }) => {
      const table = `j${++n}`;
      withDb(ws, (db) => {
        db.exec(`CREATE TABLE ${table} (id INTEGER PRIMARY KEY, doc ${type}, note TEXT)`);
        const ins = db.prepare(`INSERT INTO ${table} VALUES (?, ?, ?)`);
        docs.forEach(([doc], i) => ins.run(BigInt(i), renderJson(doc), 'before'));
      });
      const original = withDb(ws, (db) => db.prepare(`SELECT id, doc, typeof(doc) AS t, note FROM ${table} ORDER BY id`).all());
      // Row i: the document with its keys reversed (and white space), and sometimes a new note.
      const entries = docs.map(([doc, touchNote, note], i) => `[${i}, { doc: ${jsLiteral(renderJson(doc, true))}${touchNote ? `, note: ${jsLiteral(note)}` : ''} }]`);
      const src = `import { defineCorrection } from 'redress';
const P = new Map<number, Record<string, unknown>>([${entries.join(', ')}]);
export default defineCorrection<{ id: number; doc: string; note: string }>({
  id: 'json-order-${table}', description: 'same documents, other key order', target: { table: '${table}', key: 'id' }, expects: { doc: 'json' },
  transform: (row) => P.get(row.id)!,
});`;
      const notes = docs.filter(([, touch, note]) => touch && note !== 'before').length;
      const dry = await dryRun(d.client, ws.correction(table, src));
      const changed = await plannedRows(d.client, dry.id);
      assert.equal(dry.counts.changed, notes, `only rows whose note changes are planned: ${JSON.stringify(changed.slice(0, 2))}`);
      assert.ok(changed.every((r) => Object.keys(r.changes).join() === 'note'));
      const applied = await runToEnd(d.client, d.client.request('apply', { planId: dry.planId! }));
      assert.equal(applied.status, 'completed');
      const now = withDb(ws, (db) => db.prepare(`SELECT id, doc, typeof(doc) AS t, note FROM ${table} ORDER BY id`).all() as { doc: string }[]);
      assert.deepStrictEqual(
        now.map((r) => r.doc),
        (original as { doc: string }[]).map((r) => r.doc),
        'every document keeps its text',
      );
    }),
    { numRuns: 30, endOnFailure: true },
  );
});

