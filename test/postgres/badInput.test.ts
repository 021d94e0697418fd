// Bad input on PostgreSQL: a column type the correction did not expect is refused before the run; values
// that do not fit their column are quarantined with the server's own reason, the rest is written, and the
// ledger stays consistent (apply writes exactly the rows that fit).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pgEngine, pgSchema, type PgEngine, type PgSchema } from '../helpers/pg';

let s: PgSchema;
let e: PgEngine;

before(async () => {
  s = await pgSchema('bad');
  await s.sql(`CREATE TYPE mood AS ENUM ('sad', 'ok')`);
  await s.sql(`CREATE DOMAIN positive AS int CHECK (VALUE > 0)`);
  await s.sql(`CREATE TABLE things (id int8 PRIMARY KEY, code varchar(5) NOT NULL, n int4, m mood, p positive, j jsonb, d date)`);
  await s.sql(`INSERT INTO things SELECT i, 'c' || i, i, 'ok', i, '{}', '2020-01-01' FROM generate_series(1, 12) i`);
  e = await pgEngine(s);
});
after(async () => {
  await e?.close();
  await s?.drop();
});

test('a column type the correction did not expect is refused before anything runs, naming the PostgreSQL type', async () => {
  const file = e.correction(
    'wrong-type',
    `import { defineCorrection } from 'redress';
export default defineCorrection({ id: 'wrong-type', description: 'x', target: { table: 'things', key: 'id' },
  expects: { code: 'integer', d: 'timestamp' }, transform: () => ({}) });`,
  );
  await assert.rejects(e.engine.preview({ correction: file, params: {} }), /column "code" is character varying\(5\), but the correction expects integer; column "d" is date, but the correction expects timestamp/);
});

test('values that do not fit are quarantined with the reason; the rows that fit are planned and applied', async () => {
  const file = e.correction(
    'misfits',
    `import { defineCorrection } from 'redress';
export default defineCorrection<any>({ id: 'misfits', description: 'one misfit per row', target: { table: 'things', key: 'id' },
  expects: { code: 'text' },
  transform: (row) => {
    switch (row.id) {
      case 1: return { code: 'toolong' };
      case 2: return { n: 'twelve' };
      case 3: return { n: 2 ** 31 };
      case 4: return { m: 'happy' };
      case 5: return { p: 0 };
      case 6: return { code: null };
      case 7: return { j: { x: NaN } };
      case 8: return { d: '2021-02-30' };
      case 9: return { n: 1.5 };
      case 10: return { nope: 1 };
      default: return { code: 'ok' + row.id, d: new Date(Date.UTC(2024, 1, 29)) };
    }
  },
  options: { quarantineThreshold: 1 },
});`,
  );
  const dry = await e.run(e.engine.startDryRun({ correction: file, params: {} }));
  assert.equal(dry.status, 'completed', dry.message ?? '');
  assert.deepEqual([dry.counts.changed, dry.counts.quarantined], [2, 10]);
  const reasons = e.ledger.planRows(dry.id, -1, 100, 'quarantined').map((r) => `${JSON.parse(r.key)[0].$int}: ${r.reason}`);
  const expect: [number, RegExp][] = [
    [1, /value too long for type character varying\(5\)/],
    [2, /invalid input syntax for type integer: "twelve"/],
    [3, /out of range for type integer/],
    [4, /invalid input value for enum mood: "happy"/],
    [5, /value for domain positive violates check constraint/],
    [6, /NULL in a NOT NULL column/],
    [7, /NaN cannot be stored in JSON/],
    [8, /date\/time field value out of range: "2021-02-30"/],
    [9, /invalid input syntax for type integer: "1.5"/],
    [10, /"nope"/],
  ];
  for (const [id, re] of expect) {
    const r = reasons.find((x) => x.startsWith(`${id}: `));
    assert.ok(r && re.test(r), `row ${id}: ${r}`);
  }
  const applied = await e.run(e.engine.startApply({ planId: dry.planId! }));
  assert.equal(applied.status, 'completed', applied.message ?? '');
  assert.deepEqual(applied.apply, { applied: 2, alreadyApplied: 0, drifted: 0 });
  const rows = (await s.sql(`SELECT id::int, code, d::text FROM things WHERE id > 10 ORDER BY id`)).rows;
  assert.deepEqual(rows, [
    { id: 11, code: 'ok11', d: '2024-02-29' },
    { id: 12, code: 'ok12', d: '2024-02-29' },
  ]);
  assert.equal((await s.sql(`SELECT count(*)::int AS n FROM things WHERE id <= 10 AND code = 'c' || id AND n = id`)).rows[0]!.n, 10, 'the misfit rows are untouched');
  assert.ok(e.ledger.verifyChain().ok);
});
