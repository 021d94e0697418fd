// Regression guard for the native compare-and-set (SQLite apply compares every column of the row with
// the plan's stored before-row, in SQL). Plain SQL equality would miss changes that are real: a column
// declared COLLATE NOCASE calls 'Ann' and 'ANN' equal, 5 = 5.0 across storage classes, '5' = 5 once
// affinity applies, and -0.0 = 0.0; and text 'a' and the blob x'61' hold the same bytes. Each such change by another writer after the plan must leave the
// row drifted, not overwritten; and the same holds for rollback.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { dryRun, makeWorkspace, runToEnd, startTestDaemon, type RunningDaemon, type Workspace } from '../helpers/harness';
import { withDb } from '../helpers/lifecycle';

let ws: Workspace;
let d: RunningDaemon;

const ORIGINAL = [
  { id: 1n, name: 'Ann', n: 5n, v: 0.5, tag: 'x' },
  { id: 2n, name: 'Bob', n: 5n, v: 0.5, tag: 'x' },
  { id: 3n, name: 'Cy', n: 7n, v: 0.5, tag: 'x' },
  { id: 4n, name: 'Di', n: 8n, v: 0, tag: 'x' },
  { id: 5n, name: 'Ed', n: 9n, v: 0.5, tag: 'x' },
  { id: 6n, name: 'a', n: 1n, v: 0.5, tag: 'x' },
];

before(async () => {
  ws = makeWorkspace((db) => {
    // n and v are untyped: they keep whatever storage class they are given.
    db.exec('CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT COLLATE NOCASE, n, v, tag TEXT)');
    const ins = db.prepare('INSERT INTO people VALUES (?, ?, ?, ?, ?)');
    for (const r of ORIGINAL) ins.run(r.id, r.name, r.n, r.v, r.tag);
  });
  d = await startTestDaemon(ws);
});
after(async () => {
  await d?.stop();
  ws?.cleanup();
});

const rows = () => withDb(ws, (db) => db.prepare('SELECT id, name, n, v, tag FROM people ORDER BY id').all() as Record<string, unknown>[]);
const signOf = (x: unknown) => (typeof x === 'number' && Object.is(x, -0) ? '-0' : x);

test('a change only SQL equality would miss (NOCASE text, 5 to 5.0, 7 to \'7\', 0.0 to -0.0, text to the same bytes as a blob) leaves the row drifted at apply and at rollback', async () => {
  const file = ws.correction(
    'retag',
    `import { defineCorrection } from 'redress';
export default defineCorrection<{ id: number; tag: string }>({
  id: 'retag', description: 'retag every person', target: { table: 'people', key: 'id' }, expects: { tag: 'text' },
  transform: () => ({ tag: 'y' }),
});`,
  );
  const dry = await dryRun(d.client, file);
  assert.equal(dry.counts.changed, 6);
  withDb(ws, (db) => {
    db.prepare(`UPDATE people SET name = 'ANN' WHERE id = 1`).run();
    db.prepare('UPDATE people SET n = 5.0 WHERE id = 2').run();
    db.prepare(`UPDATE people SET n = '7' WHERE id = 3`).run();
    db.prepare('UPDATE people SET v = ? WHERE id = 4').run(-0);
    db.prepare(`UPDATE people SET name = x'61' WHERE id = 6`).run();
  });
  const changed = rows();
  assert.ok(Object.is(changed[3]!.v, -0), 'SQLite keeps -0.0 in an untyped column');
  const applied = await runToEnd(d.client, d.client.request('apply', { planId: dry.planId! }));
  assert.equal(applied.status, 'completed', applied.message ?? '');
  assert.deepEqual(applied.apply, { applied: 1, alreadyApplied: 0, drifted: 5 });
  const now = rows();
  assert.deepEqual(now.map((r) => [r.id, r.tag]), [[1n, 'x'], [2n, 'x'], [3n, 'x'], [4n, 'x'], [5n, 'y'], [6n, 'x']], 'only the row still as planned was written');
  assert.deepEqual(now.map((r) => [r.name, r.n, signOf(r.v)]), changed.map((r) => [r.name, r.n, signOf(r.v)]), 'the other writer’s values stand, storage class included');
  // Which rows, and why: the apply's drifted rows, by key.
  const drifted = await d.client.request('diffs', { runId: applied.id, outcome: 'drifted' });
  assert.equal(drifted.total, 5);
  assert.deepEqual(drifted.rows.map((r) => r.key.id), [{ $int: '1' }, { $int: '2' }, { $int: '3' }, { $int: '4' }, { $int: '6' }]);
  assert.ok(drifted.rows.every((r) => /^drifted: the row changed after it was planned/.test(r.reason ?? '')), JSON.stringify(drifted.rows[0]));
  await assert.rejects(d.client.request('diffs', { runId: dry.id, outcome: 'drifted' }), /RUN_STATE|is a dry-run/);

  // The written row is changed the same ways after the apply: rollback must not restore over it.
  withDb(ws, (db) => db.prepare(`UPDATE people SET name = 'ED' WHERE id = 5`).run());
  const rolled = await runToEnd(d.client, d.client.request('rollback', { runId: applied.id }));
  assert.equal(rolled.status, 'completed', rolled.message ?? '');
  assert.deepEqual(rolled.apply, { applied: 0, alreadyApplied: 0, drifted: 1 });
  assert.deepEqual((await d.client.request('diffs', { runId: rolled.id, outcome: 'drifted' })).rows.map((r) => r.key.id), [{ $int: '5' }]);
  assert.deepEqual(rows()[4], { id: 5n, name: 'ED', n: 9n, v: 0.5, tag: 'y' });
});
