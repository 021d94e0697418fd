// Reviewed is applied, on a target that writes from the plan's rows in the ledger (PostgreSQL): the
// rows hash covers a list of page hashes; apply checks that list when it starts and each page just
// before it writes from it. An edit in the middle of a plan halts the run before that page, having
// written only checked, reviewed rows; rollback checks the same pages before restoring from them.
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { PAGE_ROWS } from '../../daemon/ledger/ledger';
import { lowerEmailCorrection, pgEngine, pgSchema, tableText, type PgEngine, type PgSchema } from '../helpers/pg';

const ROWS = 3 * PAGE_ROWS; // three plan pages
let s: PgSchema;
let e: PgEngine;
let original: string[];

before(async () => {
  s = await pgSchema('tamper');
  e = await pgEngine(s);
});
beforeEach(async () => {
  await s.sql('DROP TABLE IF EXISTS people');
  await s.sql('CREATE TABLE people (id int8 PRIMARY KEY, email text NOT NULL)');
  await s.sql(`INSERT INTO people SELECT i, 'Person' || i || '@Example.COM' FROM generate_series(1, ${ROWS}) i`);
  original = await tableText(s, 'people', 'id');
});
after(async () => {
  await e?.close();
  await s?.drop();
});

async function plan(batchSize = 100): Promise<{ dryRunId: string; planId: string }> {
  const file = e.correction('lower-email', lowerEmailCorrection(batchSize));
  const dry = await e.run(e.engine.startDryRun({ correction: file, params: {} }));
  assert.equal(dry.status, 'completed', dry.message ?? '');
  return { dryRunId: dry.id, planId: dry.planId! };
}

/** The seq of the n-th (0-based) changed plan row. */
const nthSeq = (dryRunId: string, n: number) =>
  (e.ledger.db.prepare(`SELECT seq FROM plan_rows WHERE run_id = ? AND status = 'changed' ORDER BY seq LIMIT 1 OFFSET ?`).get(dryRunId, n) as { seq: number }).seq;

const emails = async () => (await s.sql('SELECT email FROM people ORDER BY id')).rows.map((r: { email: string }) => r.email);

test('a plan row edited in its third page: apply writes the two pages before it, halts, never writes the edit; once rolled back it cannot be resumed', async () => {
  const { dryRunId, planId } = await plan();
  e.ledger.db.prepare(`UPDATE plan_rows SET after = '{"email":"attacker@example.com"}' WHERE run_id = ? AND seq = ?`).run(dryRunId, nthSeq(dryRunId, 2 * PAGE_ROWS + 50));
  const run = await e.run(e.engine.startApply({ planId }));
  assert.equal(run.status, 'halted');
  assert.match(run.message!, /is not the plan that was made: its rows after seq \d+ up to seq \d+ in the ledger were changed after it was made\. Run \S+ stopped before writing any of those rows/);
  assert.match(run.message!, /redress rollback /);
  assert.equal(run.apply.applied, 2 * PAGE_ROWS);
  const now = await emails();
  assert.ok(!now.includes('attacker@example.com'));
  now.forEach((email, i) => assert.equal(email, i < 2 * PAGE_ROWS ? `person${i + 1}@example.com` : `Person${i + 1}@Example.COM`, `row ${i + 1}`));
  // Resuming finds the same page changed: still nothing more is written.
  const again = await e.run(e.engine.resume(run.id));
  assert.equal(again.status, 'halted');
  assert.equal(again.apply.applied, 2 * PAGE_ROWS);
  // A new apply of the plan, already found edited, checks it whole first: it writes nothing this time.
  const second = await e.run(e.engine.startApply({ planId }));
  assert.equal(second.status, 'halted');
  assert.match(second.message!, /its rows after seq \d+ up to seq \d+ in the ledger were changed after it was made\. Nothing was written\./);
  assert.equal(second.apply.applied, 0);
  // What the first wrote rolls back from pages that check clean.
  const rb = await e.run(e.engine.startFollowUp('rollback', run.id));
  assert.equal(rb.status, 'completed', rb.message ?? '');
  assert.deepEqual(await tableText(s, 'people', 'id'), original);
  // resuming-an-apply-that-was-rolled-back-is-refused: even with the ledger put back, it would write
  // again, behind the rollback, part of what the rollback restored. The rollback ended the apply.
  const ended = e.ledger.requireRun(run.id);
  assert.equal(ended.status, 'cancelled');
  assert.match(ended.message!, new RegExp(`rolled back by ${rb.id}, so it cannot be resumed\\. To apply the plan again, start a new run \\(\`redress apply ${planId}\`\\)`));
  e.ledger.db.prepare(`UPDATE plan_rows SET after = '{"email":"person' || (seq + 1) || '@example.com"}' WHERE run_id = ? AND seq = ?`).run(dryRunId, nthSeq(dryRunId, 2 * PAGE_ROWS + 50));
  await assert.rejects(e.engine.resume(run.id), (err: Error & { code?: string }) => err.code === 'RUN_STATE' && /is cancelled; only paused, interrupted, halted or failed runs can be resumed/.test(err.message));
  assert.deepEqual(await tableText(s, 'people', 'id'), original);
});

test('the page list edited: apply refuses before writing anything', async () => {
  const { dryRunId, planId } = await plan();
  e.ledger.db.prepare(`UPDATE plan_pages SET hash = ? WHERE dry_run_id = ? AND last_seq = (SELECT max(last_seq) FROM plan_pages WHERE dry_run_id = ?)`).run('0'.repeat(64), dryRunId, dryRunId);
  const run = await e.run(e.engine.startApply({ planId }));
  assert.equal(run.status, 'halted');
  assert.match(run.message!, /its page hashes in the ledger were changed after it was made\. Nothing was written\. Do not apply it/);
  assert.equal(run.apply.applied, 0);
  assert.deepEqual(await tableText(s, 'people', 'id'), original);
  // What the message advises works: a new dry-run makes the same plan (same content, same id) again,
  // now from rows just written and hashed, and it applies.
  const again = await plan();
  assert.equal(again.planId, planId);
  const applied = await e.run(e.engine.startApply({ planId }));
  assert.equal(applied.status, 'completed', applied.message ?? '');
  assert.equal(applied.apply.applied, ROWS);
});

test('a changed row added after the last planned row is not written: the run halts when it reaches it', async () => {
  // Another batch size makes another plan: the tests above found theirs edited, and an apply of such a
  // plan checks it whole before writing.
  const { dryRunId, planId } = await plan(120);
  e.ledger.db
    .prepare(`INSERT INTO plan_rows (run_id, seq, status, key, before_hash, after_hash, before, after, reason) SELECT run_id, seq + 1, status, key, after_hash, before_hash, after, '{"email":"attacker@example.com"}', reason FROM plan_rows WHERE run_id = ? ORDER BY seq DESC LIMIT 1`)
    .run(dryRunId);
  const run = await e.run(e.engine.startApply({ planId }));
  assert.equal(run.status, 'halted');
  assert.match(run.message!, /the ledger holds changed rows after its last planned row/);
  assert.equal(run.apply.applied, ROWS);
  assert.ok(!(await emails()).includes('attacker@example.com'));
});

test('a before-image edited after apply: rollback restores the pages before it, halts, and resumes once the ledger is put back', async () => {
  const { dryRunId, planId } = await plan();
  const applied = await e.run(e.engine.startApply({ planId }));
  assert.equal(applied.status, 'completed', applied.message ?? '');
  const seq = nthSeq(dryRunId, PAGE_ROWS + 7);
  const kept = (e.ledger.db.prepare('SELECT before FROM plan_rows WHERE run_id = ? AND seq = ?').get(dryRunId, seq) as { before: string }).before;
  e.ledger.db.prepare(`UPDATE plan_rows SET before = '{"email":"attacker@example.com"}' WHERE run_id = ? AND seq = ?`).run(dryRunId, seq);
  const rb = await e.run(e.engine.startFollowUp('rollback', applied.id));
  assert.equal(rb.status, 'halted');
  assert.match(rb.message!, /put back the edited plan rows from a backup of \.redress\/ledger\.sqlite, then resume this rollback/);
  assert.equal(rb.apply.applied, PAGE_ROWS);
  const now = await emails();
  assert.ok(!now.includes('attacker@example.com'));
  now.forEach((email, i) => assert.equal(email, i < PAGE_ROWS ? `Person${i + 1}@Example.COM` : `person${i + 1}@example.com`, `row ${i + 1}`));
  // The backup is put back: the rollback resumes and restores the rest.
  e.ledger.db.prepare('UPDATE plan_rows SET before = ? WHERE run_id = ? AND seq = ?').run(kept, dryRunId, seq);
  const done = await e.run(e.engine.resume(rb.id));
  assert.equal(done.status, 'completed', done.message ?? '');
  assert.deepEqual(await tableText(s, 'people', 'id'), original);
});
