// Safety contract 3, reviewed is applied, where apply writes from the plan's rows in the ledger
// (PostgreSQL): whatever is edited in a plan after it was made (a row's new value, key, hashes or
// status, a row deleted, a row added after the last one, the page list itself), apply never writes a
// value that was not planned. It checks the page list when it starts and each page before it writes
// from it, so it writes exactly the batches before the first one that reaches an edited page, each as
// planned, and halts; the rest of the table is untouched. Unedited plans apply in full.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { PAGE_ROWS } from '../../daemon/ledger/ledger';
import { lowerEmailCorrection, pgEngine, pgSchema, type PgEngine, type PgSchema } from '../helpers/pg';
import { assertProperty } from '../helpers/tables';

let s: PgSchema;
let e: PgEngine;

before(async () => {
  s = await pgSchema('edited');
  e = await pgEngine(s);
});
after(async () => {
  await e?.close();
  await s?.drop();
});

type Edit =
  | { kind: 'none' }
  | { kind: 'after' | 'key' | 'before_hash' | 'after_hash' | 'skipped' | 'delete'; at: number }
  | { kind: 'append' }
  | { kind: 'page-hash' | 'page-delete'; at: number };

const editArb: fc.Arbitrary<Edit> = fc.oneof(
  { arbitrary: fc.constant({ kind: 'none' as const }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constantFrom('after' as const, 'key' as const, 'before_hash' as const, 'after_hash' as const, 'skipped' as const, 'delete' as const), at: fc.nat() }), weight: 6 },
  { arbitrary: fc.constant({ kind: 'append' as const }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constantFrom('page-hash' as const, 'page-delete' as const), at: fc.nat() }), weight: 2 },
);

const caseArb = fc.record({
  // Which rows need the correction (upper case in them): the plan skips the others, so its seqs have gaps.
  mixed: fc.array(fc.boolean(), { minLength: 1, maxLength: 3 * PAGE_ROWS + 50 }),
  batch: fc.integer({ min: 25, max: 600 }),
  edit: editArb,
});

const ATTACKER = '{"email":"attacker@example.com"}';
let cases = 0;

test('an edited plan never writes what was not planned: the batches before the edited page, as planned, then a halt', async () => {
  await assertProperty(
    fc.asyncProperty(caseArb, async ({ mixed, batch, edit }) => {
      const emails = mixed.map((upper, i) => (upper ? `Person${i + 1}@Example.COM` : `person${i + 1}@example.com`));
      await s.sql('DROP TABLE IF EXISTS people');
      await s.sql('CREATE TABLE people (id int8 PRIMARY KEY, email text NOT NULL)');
      await s.sql('INSERT INTO people SELECT i, e FROM unnest($1::text[]) WITH ORDINALITY AS x(e, i)', [emails]);
      // A plan of its own per case (the description differs): a plan an earlier case found edited is
      // checked whole before any write, which would change what this case expects.
      const source = lowerEmailCorrection(batch).replace(`description: 'lower-case emails'`, `description: 'lower-case emails, case ${++cases}'`);
      assert.notEqual(source, lowerEmailCorrection(batch));
      const dry = await e.run(e.engine.startDryRun({ correction: e.correction('lower-email', source), params: {} }));
      assert.equal(dry.status, 'completed', dry.message ?? '');
      const db = e.ledger.db;
      const changed = (db.prepare(`SELECT seq FROM plan_rows WHERE run_id = ? AND status = 'changed' ORDER BY seq`).all(dry.id) as { seq: number }[]).map((r) => r.seq);
      const planned = mixed.filter(Boolean).length;
      assert.equal(changed.length, planned);
      if (planned === 0) return;

      // The first changed row (index into `changed`) that apply must not reach.
      let stopAt = planned;
      const row = (at: number) => at % planned;
      const pageStart = (i: number) => Math.floor(i / PAGE_ROWS) * PAGE_ROWS;
      switch (edit.kind) {
        case 'none':
          break;
        case 'append':
          db.prepare(`INSERT INTO plan_rows (run_id, seq, status, key, before_hash, after_hash, before, after) SELECT run_id, seq + 1, 'changed', key, after_hash, before_hash, after, ? FROM plan_rows WHERE run_id = ? ORDER BY seq DESC LIMIT 1`).run(ATTACKER, dry.id);
          break;
        case 'page-hash':
        case 'page-delete': {
          const pages = db.prepare('SELECT last_seq FROM plan_pages WHERE dry_run_id = ? ORDER BY last_seq').all(dry.id) as { last_seq: number }[];
          const last = pages[edit.at % pages.length]!.last_seq;
          if (edit.kind === 'page-hash') db.prepare(`UPDATE plan_pages SET hash = ? WHERE dry_run_id = ? AND last_seq = ?`).run('0'.repeat(64), dry.id, last);
          else db.prepare(`DELETE FROM plan_pages WHERE dry_run_id = ? AND last_seq = ?`).run(dry.id, last);
          stopAt = 0;
          break;
        }
        default: {
          const i = row(edit.at);
          const seq = changed[i]!;
          const other = changed[(i + 1) % planned]!;
          const where = 'WHERE run_id = ? AND seq = ?';
          if (edit.kind === 'after') db.prepare(`UPDATE plan_rows SET after = ? ${where}`).run(ATTACKER, dry.id, seq);
          else if (edit.kind === 'key') db.prepare(`UPDATE plan_rows SET key = (SELECT key FROM plan_rows ${where}) || ' ' ${where}`).run(dry.id, other, dry.id, seq);
          else if (edit.kind === 'before_hash' || edit.kind === 'after_hash') db.prepare(`UPDATE plan_rows SET ${edit.kind} = 'pg1:' || substr(${edit.kind}, 6) || '0' ${where}`).run(dry.id, seq);
          else if (edit.kind === 'skipped') db.prepare(`UPDATE plan_rows SET status = 'skipped' ${where}`).run(dry.id, seq);
          else db.prepare(`DELETE FROM plan_rows ${where}`).run(dry.id, seq);
          stopAt = pageStart(i);
        }
      }
      // Batches are the next `batch` changed rows: the one that reaches the edited page is not written.
      const written = edit.kind === 'none' ? planned : Math.floor(stopAt / batch) * batch;

      const run = await e.run(e.engine.startApply({ planId: dry.planId! }));
      assert.equal(run.status, edit.kind === 'none' ? 'completed' : 'halted', run.message ?? '');
      if (edit.kind !== 'none') assert.match(run.message!, /is not the plan that was made/);
      assert.equal(run.apply.applied, written);
      const now = (await s.sql('SELECT email FROM people ORDER BY id')).rows.map((r: { email: string }) => r.email);
      let k = 0;
      now.forEach((email, i) => {
        const want = mixed[i] && k++ < written ? emails[i]!.toLowerCase() : emails[i]!;
        assert.equal(email, want, `row ${i + 1}`);
      });
    }),
    { numRuns: 30, endOnFailure: true },
  );
});
