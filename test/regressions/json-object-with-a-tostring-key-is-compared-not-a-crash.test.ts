// Regression (found by test/postgres/typeFidelity.test.ts, seed 434416787): a jsonb document reaches
// the transform as a plain object, and deciding whether the transform changed it called String() on it.
// A document with a "toString" key (here false) made that throw, so the preview or dry-run failed on a
// row instead of finding it unchanged; a "constructor" key fooled the check of the two objects' kinds.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pgEngine, pgSchema, type PgEngine, type PgSchema } from '../helpers/pg';

let s: PgSchema;
let e: PgEngine;

const DOCS = ['{"toString": false, "constructor": 0}', '{"valueOf": null, "a": {"toString": 1}}', '{"constructor": {"name": "x"}}'];

before(async () => {
  s = await pgSchema('tostring');
  await s.sql('CREATE TABLE docs (id int PRIMARY KEY, v jsonb)');
  for (const [i, d] of DOCS.entries()) await s.sql(`INSERT INTO docs VALUES (${i + 1}, '${d}')`);
  e = await pgEngine(s);
});
after(async () => {
  await e?.close();
  await s?.drop();
});

test('a JSON document with "toString" or "constructor" keys handed back unchanged is not a change, and one edited is', async () => {
  const identity = e.correction(
    'identity',
    `import { defineCorrection } from 'redress';
export default defineCorrection({ id: 'identity', description: 'identity', target: { table: 'docs', key: 'id' }, expects: {}, transform: (row) => ({ ...row }) });`,
  );
  const same = await e.engine.preview({ correction: identity, params: {}, sampleSize: 10 });
  assert.deepEqual([same.summary.scanned, same.summary.changed, same.summary.quarantined], [3, 0, 0], JSON.stringify(same.diffs));

  const edit = e.correction(
    'edit',
    `import { defineCorrection } from 'redress';
export default defineCorrection<{ id: number; v: Record<string, unknown> }>({ id: 'edit', description: 'flip toString', target: { table: 'docs', key: 'id' }, expects: {},
  transform: (row) => (row.id === 1 ? { v: { ...row.v, toString: true } } : { v: row.v }) });`,
  );
  const changed = await e.engine.preview({ correction: edit, params: {}, sampleSize: 10 });
  assert.deepEqual([changed.summary.changed, changed.summary.unchanged, changed.summary.quarantined], [1, 2, 0], JSON.stringify(changed.diffs));
});
