// Safety contract 2 and 4, compare-and-set: a row another writer changed between the dry-run (plan) and
// the apply is quarantined as drifted, not overwritten; a row changed between the apply and the rollback
// is not clobbered by the rollback. On random tables, the other writer updates random rows (new values,
// the same value again, the whole planned after-state or before-state), deletes some and inserts new ones. A model of
// compare-and-set says, per row, what apply and rollback must do (written, already so, drifted, missing):
// the table, the run counts and an AFTER UPDATE trigger's count of writes must all agree with it.
// Row equality for compare-and-set is exact: value, storage class and text. A writer that only re-spaces
// a JSON document has still changed the row: it is drifted, not overwritten (a diff, unlike
// compare-and-set, compares JSON documents: see value-fidelity.test.ts).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type Database from 'better-sqlite3';
import fc from 'fast-check';
import { dryRun, makeWorkspace, runToEnd, startTestDaemon, type RunningDaemon, type Workspace } from '../helpers/harness';
import { plannedRows, withDb } from '../helpers/lifecycle';
import {
  assertProperty,
  bindable,
  correctionSource,
  createTable,
  exactFromWire,
  keyString,
  keyStringFromWire,
  keyTupleArb,
  patchesArb,
  q,
  readAudit,
  readExact,
  shapeArb,
  tableArb,
  valueArb,
  type ExactRow,
  type SqlValue,
  type TableSpec,
} from '../helpers/tables';

let ws: Workspace;
let d: RunningDaemon;

before(async () => {
  ws = makeWorkspace(() => {}, 'redress-drift-');
  d = await startTestDaemon(ws);
});
after(async () => {
  await d?.stop();
  ws?.cleanup();
});

type Action = { kind: 'update'; col: number; value: SqlValue } | { kind: 'same'; col: number } | { kind: 'json-space'; col: number } | { kind: 'to-after' } | { kind: 'to-before' } | { kind: 'delete' };

const actionArb = (ncols: number): fc.Arbitrary<Action | null> =>
  fc.oneof(
    { arbitrary: fc.constant(null), weight: 5 },
    { arbitrary: fc.record({ kind: fc.constant('update' as const), col: fc.nat(ncols - 1), value: valueArb }), weight: 3 },
    { arbitrary: fc.record({ kind: fc.constant('same' as const), col: fc.nat(ncols - 1) }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('json-space' as const), col: fc.nat(ncols - 1) }), weight: 1 },
    { arbitrary: fc.constant({ kind: 'to-after' as const }), weight: 1 },
    { arbitrary: fc.constant({ kind: 'to-before' as const }), weight: 1 },
    { arbitrary: fc.constant({ kind: 'delete' as const }), weight: 1 },
  );

const writerArb = (spec: TableSpec) =>
  fc.record({
    actions: fc.array(actionArb(spec.cols.length), { minLength: spec.rows.length, maxLength: spec.rows.length }),
    inserts: fc.array(fc.tuple(keyTupleArb(spec.keyKind), fc.tuple(...spec.cols.map(() => valueArb))), { maxLength: 3 }),
  });
type Writer = { actions: (Action | null)[]; inserts: [SqlValue[], SqlValue[]][] };

const caseArb = shapeArb({ minRows: 1, maxRows: 80, maxCols: 3 })
  .chain((shape) => tableArb(shape, 't'))
  .chain((spec) =>
    fc.record({
      spec: fc.constant(spec),
      patches: patchesArb(spec, { changeWeight: 4 }),
      batch: fc.integer({ min: 1, max: 20 }),
      beforeApply: writerArb(spec),
      beforeRollback: writerArb(spec),
    }),
  );

type Cells = ExactRow['cells'];
type Outcome = 'written' | 'already' | 'drifted' | 'missing';

function sameValue([ta, va]: [string, unknown], [tb, vb]: [string, unknown]): boolean {
  if (ta !== tb) return false;
  if (Buffer.isBuffer(va) && Buffer.isBuffer(vb)) return va.equals(vb);
  return Object.is(va, vb);
}

function sameRow(spec: TableSpec, a: Cells, b: Cells): boolean {
  return [...spec.keys, ...spec.cols].every((c) => sameValue(a[c.name]!, b[c.name]!));
}

/** What one compare-and-set write does to a row that should look like `expect` and become `done`. */
function cas(spec: TableSpec, current: Cells | undefined, expect: Cells, done: Cells): Outcome {
  if (!current) return 'missing';
  if (sameRow(spec, current, done)) return 'already';
  if (!sameRow(spec, current, expect)) return 'drifted';
  return 'written';
}

/** Another writer at work on the target (its updates fire the write-counting trigger too). */
function write(db: Database.Database, spec: TableSpec, w: Writer, states: { after: Map<string, Cells>; before: Map<string, Cells> }): void {
  const where = spec.keys.map((k) => `${q(k.name)} IS ?`).join(' AND ');
  const keyOf = (i: number) => spec.keys.map((k) => bindable(spec.rows[i]![k.name] ?? null));
  db.transaction(() => {
    w.actions.forEach((a, i) => {
      if (!a) return;
      const key = keyString(spec.keys.map((k) => spec.rows[i]![k.name]));
      if (a.kind === 'update') db.prepare(`UPDATE ${q(spec.table)} SET ${q(spec.cols[a.col]!.name)} = ? WHERE ${where}`).run(bindable(a.value), ...keyOf(i));
      else if (a.kind === 'same') db.prepare(`UPDATE ${q(spec.table)} SET ${q(spec.cols[a.col]!.name)} = ${q(spec.cols[a.col]!.name)} WHERE ${where}`).run(...keyOf(i));
      else if (a.kind === 'json-space') {
        // The same JSON document with a space in front: equal as JSON, not as text.
        const c = q(spec.cols[a.col]!.name);
        db.prepare(`UPDATE ${q(spec.table)} SET ${c} = ' ' || ${c} WHERE ${where} AND typeof(${c}) = 'text' AND json_valid(${c})`).run(...keyOf(i));
      } else if (a.kind === 'delete') db.prepare(`DELETE FROM ${q(spec.table)} WHERE ${where}`).run(...keyOf(i));
      else {
        const target = (a.kind === 'to-after' ? states.after : states.before).get(key);
        if (!target) return;
        const cols = spec.cols.map((c) => c.name);
        db.prepare(`UPDATE ${q(spec.table)} SET ${cols.map((c) => `${q(c)} = ?`).join(', ')} WHERE ${where}`).run(...cols.map((c) => target[c]![1]), ...keyOf(i));
      }
    });
    const cols = [...spec.keys, ...spec.cols];
    const ins = db.prepare(`INSERT OR IGNORE INTO ${q(spec.table)} (${cols.map((c) => q(c.name)).join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`);
    for (const [k, vs] of w.inserts) ins.run(...[...k, ...vs].map(bindable));
  })();
}

const byKey = (rows: ExactRow[]) => new Map(rows.map((r) => [r.key, r.cells]));
const counts = (outcomes: Map<string, Outcome>) => {
  const n = (o: Outcome) => [...outcomes.values()].filter((x) => x === o).length;
  return { applied: n('written'), alreadyApplied: n('already'), drifted: n('drifted') + n('missing') };
};

test('rows changed by another writer after the plan are quarantined as drifted, not overwritten; rows changed after the apply are not clobbered by the rollback', async (t) => {
  let n = 0;
  const stats = { drifted: 0, missing: 0, already: 0, rollbackDrifted: 0, rollbackMissing: 0, rollbackAlready: 0, jsonRespaced: 0 };
  await assertProperty(
    fc.asyncProperty(caseArb, async ({ spec: generated, patches, batch, beforeApply, beforeRollback }) => {
      const spec = { ...generated, table: `t${++n}` };
      withDb(ws, (db) => createTable(db, spec, { audit: true }));
      const original = byKey(withDb(ws, (db) => readExact(db, spec)));
      const dry = await dryRun(d.client, ws.correction(spec.table, correctionSource({ id: `drift-${spec.table}`, spec, patches })), batch);
      // Planned rows: before-state (as planned), after-state, and the columns the plan changes.
      const plan = new Map<string, { before: Cells; after: Cells; cols: string[] }>();
      for (const r of await plannedRows(d.client, dry.id)) {
        const key = keyStringFromWire(spec, r.key);
        const before = original.get(key)!;
        const after = { ...before };
        for (const [c, ch] of Object.entries(r.changes)) after[c] = exactFromWire(ch.after);
        plan.set(key, { before, after, cols: Object.keys(r.changes) });
      }
      // The whole planned after-state or before-state of a row, for writers that put a row in one.
      const states = { after: new Map([...plan].map(([k, p]) => [k, p.after])), before: new Map([...plan].map(([k, p]) => [k, p.before])) };

      // Another writer, between the plan and the apply.
      withDb(ws, (db) => write(db, spec, beforeApply, states));
      stats.jsonRespaced += withDb(ws, (db) => readExact(db, spec)).filter((r) => spec.cols.some((c) => r.cells[c.name]![0] === 'text' && String(r.cells[c.name]![1]).startsWith(' {'))).length;
      const w1 = withDb(ws, (db) => readExact(db, spec));
      const w1ByKey = byKey(w1);
      const writes1 = withDb(ws, (db) => readAudit(db, spec));
      const applyOutcome = new Map([...plan].map(([k, p]) => [k, cas(spec, w1ByKey.get(k), p.before, p.after)]));

      const applied = await runToEnd(d.client, d.client.request('apply', { planId: dry.planId!, batchSize: batch }));
      assert.equal(applied.status, 'completed', applied.message ?? '');
      assert.deepEqual(applied.apply, counts(applyOutcome));
      const expectAfterApply = w1.map((r) => {
        const p = plan.get(r.key);
        if (!p || applyOutcome.get(r.key) !== 'written') return r; // drifted, already so, or not planned: as the writer left it
        return { key: r.key, cells: { ...r.cells, ...Object.fromEntries(p.cols.map((c) => [c, p.after[c]!])) } };
      });
      const f1 = withDb(ws, (db) => readExact(db, spec));
      assert.deepStrictEqual(f1, expectAfterApply, 'apply wrote exactly the rows still in their planned before-state');
      for (const [key, w] of withDb(ws, (db) => readAudit(db, spec))) {
        assert.equal(w - writes1.get(key)!, applyOutcome.get(key) === 'written' ? 1 : 0, `apply writes to row ${JSON.stringify(key)}`);
      }

      // Another writer, between the apply and the rollback.
      withDb(ws, (db) => write(db, spec, beforeRollback, states));
      const w2 = withDb(ws, (db) => readExact(db, spec));
      const w2ByKey = byKey(w2);
      const writes2 = withDb(ws, (db) => readAudit(db, spec));
      const rollbackOutcome = new Map<string, Outcome>();
      for (const [k, p] of plan) {
        const o = applyOutcome.get(k)!;
        if (o === 'written' || o === 'already') rollbackOutcome.set(k, cas(spec, w2ByKey.get(k), p.after, p.before));
      }

      const rolled = await runToEnd(d.client, d.client.request('rollback', { runId: applied.id }));
      assert.equal(rolled.status, 'completed', rolled.message ?? '');
      assert.deepEqual(rolled.apply, counts(rollbackOutcome));
      const expectAfterRollback = w2.map((r) => {
        const p = plan.get(r.key);
        if (!p || rollbackOutcome.get(r.key) !== 'written') return r;
        return { key: r.key, cells: { ...r.cells, ...Object.fromEntries(p.cols.map((c) => [c, p.before[c]!])) } };
      });
      assert.deepStrictEqual(withDb(ws, (db) => readExact(db, spec)), expectAfterRollback, 'rollback restored exactly the rows still in their applied state');
      for (const [key, w] of withDb(ws, (db) => readAudit(db, spec))) {
        assert.equal(w - writes2.get(key)!, rollbackOutcome.get(key) === 'written' ? 1 : 0, `rollback writes to row ${JSON.stringify(key)}`);
      }
      for (const o of applyOutcome.values()) if (o !== 'written') stats[o]++;
      for (const o of rollbackOutcome.values()) if (o === 'drifted') stats.rollbackDrifted++;
      else if (o === 'missing') stats.rollbackMissing++;
      else if (o === 'already') stats.rollbackAlready++;
    }),
    { numRuns: 50, endOnFailure: true },
  );
  t.diagnostic(`drift stats: ${JSON.stringify(stats)}`);
  // The writers must actually have made drift for the property to say something.
  assert.ok(stats.drifted >= 20 && stats.missing >= 5 && stats.already >= 5 && stats.rollbackDrifted >= 20 && stats.rollbackMissing >= 5 && stats.rollbackAlready >= 5, JSON.stringify(stats));
});
