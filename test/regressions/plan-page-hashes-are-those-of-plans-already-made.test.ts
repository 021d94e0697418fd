// Plan page hashes are part of every plan's content hash, so an existing plan verifies (and applies) only
// while its pages hash as they did when it was made. The page text is now built in JavaScript from the
// rows a run writes from (planHash.ts pageText); before, SQLite joined it (Ledger.planPageText, migration
// 0003). This pins the hashes that code gave for rows with text that JSON escapes, non-BMP characters,
// and pages cut at PAGE_ROWS rows, with unchanged and quarantined rows between (not part of any page).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { planPageHashes, rowsHashOf } from '../../daemon/engine/planHash';
import { Ledger, type PlanRowRecord } from '../../daemon/ledger/ledger';

test('plan-page-hashes-are-those-of-plans-already-made', () => {
  const dir = mkdtempSync(join(tmpdir(), 'redress-pages-'));
  try {
    const ledger = new Ledger(join(dir, 'ledger.sqlite'));
    const run = ledger.createRun({ kind: 'dry-run', correctionId: 'c', correctionPath: 'c.correction.ts', options: {} });
    const rows: PlanRowRecord[] = [];
    for (let seq = 0; seq < 1000; seq++) {
      const status = seq % 7 === 3 ? 'skipped' : seq % 11 === 5 ? 'quarantined' : 'changed';
      const name = `Ünïcødé "${seq}" \\ \t tab\nline 😀 \u2028 ${'x'.repeat(seq % 13)}`;
      rows.push({
        seq,
        status,
        key: JSON.stringify([seq, `k${seq}`]),
        before_hash: status === 'changed' ? `pg1:${seq.toString(16).padStart(64, '0')}` : null,
        after_hash: status === 'changed' ? `pg1:${(seq * 7919).toString(16).padStart(64, 'f')}` : null,
        before: status === 'quarantined' ? null : JSON.stringify({ name, n: { $bigint: String(2n ** 60n + BigInt(seq)) } }),
        after: status === 'changed' ? JSON.stringify({ name: name.toLowerCase() }) : null,
        reason: status === 'quarantined' ? 'transform threw' : null,
      });
    }
    ledger.insertPlanRows(run.id, rows);
    const pages = planPageHashes(ledger, run.id);
    assert.deepEqual(
      pages.map((p) => [p.last, p.rows]),
      [
        [512, 400],
        [999, 379],
      ],
    );
    assert.equal(rowsHashOf(pages), '258ad8036c10fa9eb2fa4d216ccb7051d81239a033c1c3d2f036a1dcf679f783');
    ledger.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
