// Safety contract 8, tamper-evident ledger: `ledger verify` detects edits not only to the event chain
// but to the tables the engine resumes and rolls back from (runs, row_outcomes, plans), and events cut
// from the end of the chain. Each case edits a real ledger file behind a real daemon's back.
import assert from 'node:assert/strict';
import { after, beforeEach, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { dryRun, makeWorkspace, runToEnd, startTestDaemon, type RunningDaemon, type Workspace } from '../helpers/harness';

let ws: Workspace;
let d: RunningDaemon;
let runs: { dry: string; apply: string; again: string; rollback: string; planId: string };

const CORRECTION = `import { defineCorrection } from 'redress';
export default defineCorrection<{ id: number; email: string | null }>({
  id: 'lower', description: 'lower-case emails', target: { table: 'accounts', key: 'id' }, expects: { email: 'text' },
  transform: (r, ctx) => (r.email === null ? ctx.skip('no email') : { email: r.email.toLowerCase() }),
  options: { batchSize: 40 },
});`;

/** A fresh workspace with a full history: dry-run, apply, the same plan applied again (every row already so), rollback. */
beforeEach(async () => {
  await d?.stop();
  ws?.cleanup();
  ws = makeWorkspace((db) => {
    db.exec('CREATE TABLE accounts (id INTEGER PRIMARY KEY, email TEXT)');
    const ins = db.prepare('INSERT INTO accounts VALUES (?, ?)');
    for (let i = 1; i <= 200; i++) ins.run(i, i % 10 === 0 ? null : `User${i}@Example.com`);
  }, 'redress-ledger-verify-');
  d = await startTestDaemon(ws);
  const dry = await dryRun(d.client, ws.correction('lower', CORRECTION));
  const apply = await runToEnd(d.client, d.client.request('apply', { planId: dry.planId! }));
  const again = await runToEnd(d.client, d.client.request('apply', { planId: dry.planId! }));
  assert.equal(again.apply.alreadyApplied, 180, 'the second apply finds every row already so (row outcomes recorded)');
  const rollback = await runToEnd(d.client, d.client.request('rollback', { runId: apply.id }));
  runs = { dry: dry.id, apply: apply.id, again: again.id, rollback: rollback.id, planId: dry.planId! };
});
after(async () => {
  await d?.stop();
  ws?.cleanup();
});

function edit(sql: string, ...args: unknown[]): void {
  const l = new Database(`${ws.dir}/.redress/ledger.sqlite`);
  l.prepare(sql).run(...args);
  l.close();
}

async function problems(): Promise<string[]> {
  const v = await d.client.request('ledgerVerify', {});
  assert.equal(v.ok, v.problems.length === 0);
  return v.problems;
}

describe('ledger verify', () => {
  test('an untouched ledger with dry-run, apply, re-apply and rollback verifies', async () => {
    assert.deepEqual(await problems(), []);
  });

  test('a second dry-run of the same correction (the same plan, made again from its rows) verifies', async () => {
    const second = await dryRun(d.client, ws.correction('lower', CORRECTION));
    assert.equal(second.planId, runs.planId, 'the same rows make the same plan');
    assert.deepEqual(await problems(), []);
  });

  test("a plan pointed at another dry-run's rows in the plans table (no plan-remade event) is reported", async () => {
    const l = new Database(`${ws.dir}/.redress/ledger.sqlite`, { readonly: true });
    const first = (l.prepare(`SELECT id FROM runs WHERE kind = 'dry-run' ORDER BY created_at LIMIT 1`).get() as { id: string }).id;
    l.close();
    await dryRun(d.client, ws.correction('lower', CORRECTION)); // the plan now reads its rows from this one
    edit(`UPDATE plans SET dry_run_id = ? WHERE id = ?`, first, runs.planId);
    assert.match((await problems()).join('\n'), new RegExp(`plan ${runs.planId}: no plan-created event records it with this content hash`));
  });

  test("a plan's page hashes edited are reported", async () => {
    edit(`UPDATE plan_pages SET hash = ? WHERE dry_run_id = (SELECT dry_run_id FROM plans WHERE id = ?)`, '0'.repeat(64), runs.planId);
    const p = await problems();
    assert.equal(p.length, 1, p.join('\n'));
    assert.match(p[0]!, new RegExp(`plan ${runs.planId}: the page hashes of its rows were edited`));
  });

  test("an edit to an earlier dry-run's copy of a plan's rows is still reported after a new dry-run makes the plan again", async () => {
    const l = new Database(`${ws.dir}/.redress/ledger.sqlite`, { readonly: true });
    const first = (l.prepare(`SELECT id FROM runs WHERE kind = 'dry-run' ORDER BY created_at LIMIT 1`).get() as { id: string }).id;
    l.close();
    edit(`UPDATE plan_rows SET after = '{"email":"attacker@example.com"}' WHERE run_id = ? AND seq = (SELECT max(seq) FROM plan_rows WHERE run_id = ? AND status = 'changed')`, first, first);
    await dryRun(d.client, ws.correction('lower', CORRECTION)); // the plan now reads its rows from this one
    const p = await problems();
    assert.equal(p.length, 1, p.join('\n'));
    assert.match(p[0]!, new RegExp(`plan ${runs.planId}: the copy of its rows kept by dry-run ${first} were edited \\(content hash mismatch\\), in the page of rows (after seq \\d+ )?up to seq \\d+`));
  });

  test('a run whose counts were edited in the runs table is reported', async () => {
    edit(`UPDATE runs SET apply_counts = json_set(apply_counts, '$.applied', 1) WHERE id = ?`, runs.apply);
    const p = await problems();
    assert.equal(p.length, 1, p.join('\n'));
    assert.match(p[0]!, new RegExp(`run ${runs.apply}: its checkpoint or counts differ from its last progress event`));
  });

  test('a run whose status was edited in the runs table is reported', async () => {
    edit(`UPDATE runs SET status = 'halted' WHERE id = ?`, runs.rollback);
    const p = await problems();
    assert.equal(p.length, 1, p.join('\n'));
    assert.match(p[0]!, new RegExp(`run ${runs.rollback}: status 'halted' differs from its last event \\('completed'\\)`));
  });

  test('a run whose plan was swapped in the runs table is reported', async () => {
    edit(`UPDATE runs SET parent_run_id = ? WHERE id = ?`, runs.again, runs.rollback);
    assert.match((await problems()).join('\n'), new RegExp(`run ${runs.rollback}: its kind, correction, plan, parent or options differ from its 'started' event`));
  });

  test('a deleted row outcome (which changes what a rollback restores) is reported', async () => {
    edit(`DELETE FROM row_outcomes WHERE run_id = ? AND seq = (SELECT min(seq) FROM row_outcomes WHERE run_id = ?)`, runs.again, runs.again);
    const p = await problems();
    assert.equal(p.length, 1, p.join('\n'));
    assert.match(p[0]!, new RegExp(`run ${runs.again}: row outcomes of plan row\\(s\\) \\d+ differ from what its progress events recorded`));
  });

  test('an edited row outcome is reported', async () => {
    edit(`UPDATE row_outcomes SET outcome = 'drifted' WHERE run_id = ? AND seq = (SELECT max(seq) FROM row_outcomes WHERE run_id = ?)`, runs.again, runs.again);
    assert.match((await problems()).join('\n'), new RegExp(`run ${runs.again}: row outcomes`));
  });

  test("a plan's stored code replaced (its code hash kept) is reported", async () => {
    edit(`UPDATE plans SET code = 'export default 1' WHERE id = ?`, runs.planId);
    const p = await problems();
    assert.equal(p.length, 1, p.join('\n'));
    assert.match(p[0]!, new RegExp(`plan ${runs.planId}: its stored code does not hash to its code hash`));
  });

  test('a plan inserted without its plan-created event is reported', async () => {
    edit(`INSERT INTO plans SELECT 'plan_forged', content_hash, dry_run_id, correction_id, correction_path, code_hash, code, manifest, target, table_schema, changes, created_at, rows_hash, native_file_hash, rows_pages FROM plans WHERE id = ?`, runs.planId);
    assert.match((await problems()).join('\n'), /plan plan_forged: no plan-created event records it/);
  });

  test('events cut from the end of the chain (around the triggers) are reported', async () => {
    // The rollback's last progress and completion events go; the chain that is left still links up.
    const l = new Database(`${ws.dir}/.redress/ledger.sqlite`);
    l.exec('DROP TRIGGER events_append_only_delete');
    l.prepare(`DELETE FROM events WHERE seq > (SELECT max(seq) - 2 FROM events)`).run();
    l.close();
    const p = (await problems()).join('\n');
    assert.match(p, new RegExp(`run ${runs.rollback}: status 'completed' differs from its last event`));
    assert.match(p, new RegExp(`run ${runs.rollback}: its checkpoint or counts differ from its last progress event`));
  });

  test('a run deleted from the runs table is reported', async () => {
    edit(`DELETE FROM runs WHERE id = ?`, runs.rollback);
    assert.match((await problems()).join('\n'), new RegExp(`run ${runs.rollback}: has events but no row in the runs table`));
  });
});
