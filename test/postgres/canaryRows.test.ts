// A canary of N rows on PostgreSQL: exactly N plan rows (every row when the plan has fewer), the N lowest
// in key-hash order (the order a percentage canary takes a prefix of), verified, then the rest after a
// person continues (restOf) or by itself (afterCanary continue, which hands the run lock on to the rest).
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { canaryRank, inCanary } from '../../daemon/engine/apply';
import { fromWire, type WireValue } from '../../shared/values';
import { pgEngine, pgSchema, tableText, type PgEngine, type PgSchema } from '../helpers/pg';

const ROWS = 60;
let s: PgSchema;
let e: PgEngine;

beforeEach(async () => {
  s = await pgSchema('canaryrows');
  await s.sql(`CREATE TABLE people (region text, id int4, email text NOT NULL, PRIMARY KEY (region, id))`);
  await s.sql(`INSERT INTO people SELECT r, i, 'Person' || i || '@' || upper(r) || '.Example' FROM unnest(ARRAY['eu', 'us']) r, generate_series(1, ${ROWS / 2}) i`);
  e = await pgEngine(s);
});
afterEach(async () => {
  await e?.close();
  await s?.drop();
});

async function plan(): Promise<string> {
  const file = e.correction(
    'lower-email',
    `import { defineCorrection } from 'redress';
export default defineCorrection<{ region: string; id: number; email: string }>({
  id: 'lower-email', description: 'lower-case emails', target: { table: 'people', key: ['region', 'id'] },
  expects: { email: 'text' },
  transform: (row) => ({ email: row.email.toLowerCase() }),
  options: { batchSize: 4 },
});`,
  );
  const dry = await e.run(e.engine.startDryRun({ correction: file, params: {} }));
  assert.equal(dry.status, 'completed', dry.message ?? '');
  return dry.planId!;
}
const lowered = async () => (await s.sql(`SELECT region || ':' || id AS k FROM people WHERE email = lower(email) ORDER BY 1`)).rows.map((r) => r.k as string);
/** The plan's keys ("region:id") in canary order, and whether each is in a percent slice. */
function order(planId: string): { k: string; key: string }[] {
  return e.ledger
    .planRows(e.ledger.requirePlan(planId).dryRunId, -1, 1000, 'changed')
    .map((r) => ({ k: (JSON.parse(r.key) as WireValue[]).map((v) => String(fromWire(v))).join(':'), key: r.key, rank: canaryRank(r.key) }))
    .sort((a, b) => (a.rank < b.rank ? -1 : 1));
}

test('canaryRows 9: exactly the 9 lowest key-hash ranks, verified; the rest (restOf) applies the other 51; rollback of both restores the table', async () => {
  const original = await tableText(s, 'people', 'region, id');
  const planId = await plan();
  const canary = await e.run(e.engine.startApply({ planId, canaryRows: 9, afterCanary: 'wait' }));
  assert.equal(canary.status, 'completed', canary.message ?? '');
  assert.equal(canary.apply.applied, 9);
  assert.equal(canary.totalRows, 9);
  assert.match(canary.message!, new RegExp(`canary verified: 9 row\\(s\\).*--rest-of ${canary.id}`));
  const ord = order(planId);
  assert.deepEqual(await lowered(), ord.slice(0, 9).map((x) => x.k).sort());
  // A percentage canary is a prefix of the same order.
  const pct = ord.filter((x) => inCanary(x.key, 30)).map((x) => x.k);
  assert.deepEqual(pct, ord.slice(0, pct.length).map((x) => x.k));

  const rest = await e.run(e.engine.startApply({ planId, restOf: canary.id }));
  assert.equal(rest.status, 'completed', rest.message ?? '');
  assert.deepEqual(rest.apply, { applied: ROWS - 9, alreadyApplied: 0, drifted: 0 });
  assert.equal((await lowered()).length, ROWS);

  for (const id of [rest.id, canary.id]) assert.equal((await e.run(e.engine.startFollowUp('rollback', id))).status, 'completed');
  assert.deepEqual(await tableText(s, 'people', 'region, id'), original);
});

test('a second canary of the same N picks the same rows; more rows than the plan takes them all and continue finds nothing left', async () => {
  const first = await plan();
  const a = await e.run(e.engine.startApply({ planId: first, canaryRows: 5, afterCanary: 'wait' }));
  const picked = await lowered();
  await e.run(e.engine.startFollowUp('rollback', a.id));
  const second = await plan(); // the same rows again (plans are content-addressed: the same plan id)
  await e.run(e.engine.startApply({ planId: second, canaryRows: 5, afterCanary: 'wait' }));
  assert.deepEqual(await lowered(), picked, 'deterministic by key hash');
  assert.equal(picked.length, 5);

  const third = await plan();
  const all = await e.run(e.engine.startApply({ planId: third, canaryRows: 1000, afterCanary: 'continue' }));
  assert.equal(all.status, 'completed', all.message ?? '');
  assert.equal(all.apply.applied, ROWS - 5, 'every row of the plan (the 5 already lowered are not in it)');
  const rest = e.ledger.runs(20).find((r) => r.parentRunId === all.id)!;
  const done = await e.run(rest.id);
  assert.equal(done.status, 'completed', done.message ?? '');
  assert.equal(done.counts.scanned, 0, 'nothing left after a canary that took every row');
});

test('canaryRows with afterCanary continue: the rest starts by itself and applies every other row', async () => {
  const planId = await plan();
  const canary = await e.run(e.engine.startApply({ planId, canaryRows: 12, afterCanary: 'continue' }));
  assert.equal(canary.status, 'completed', canary.message ?? '');
  assert.equal(canary.apply.applied, 12);
  const rest = e.ledger.runs(10).find((r) => r.parentRunId === canary.id)!;
  assert.ok(rest, 'a rest run was started');
  const done = await e.run(rest.id);
  assert.equal(done.status, 'completed', done.message ?? '');
  assert.equal(done.apply.applied, ROWS - 12);
  assert.equal((await lowered()).length, ROWS);
});

test('a canary is rows or a percentage, not both; afterCanary without a canary is refused', async () => {
  const planId = await plan();
  await assert.rejects(e.engine.startApply({ planId, canaryRows: 5, canaryPercent: 10 }), /a number of rows or a percentage, not both.*--canary 5 or --canary 10%/);
  await assert.rejects(e.engine.startApply({ planId, afterCanary: 'continue' }), /needs a canary: add --canary N \(rows\) or --canary P% \(percent\)/);
  assert.deepEqual(await lowered(), []);
});
