// Regression (found by test/properties/value-fidelity.test.ts): a transform that returned NaN had NULL
// planned and written in its place (SQLite has no NaN and stores NULL for it): a value changed on its
// way through Redress, and in a NOT NULL column the plan could not even be applied (the apply failed on
// the constraint). NaN does not fit any SQLite column: the row is quarantined with the reason.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { dryRun, makeWorkspace, runToEnd, startTestDaemon, type RunningDaemon, type Workspace } from '../helpers/harness';

let ws: Workspace;
let d: RunningDaemon;

before(async () => {
  ws = makeWorkspace((db) => {
    db.exec('CREATE TABLE m (id INTEGER PRIMARY KEY, ratio REAL NOT NULL, score)');
    const ins = db.prepare('INSERT INTO m VALUES (?, ?, ?)');
    for (let i = 1; i <= 4; i++) ins.run(BigInt(i), i / 2, 'x');
  });
  d = await startTestDaemon(ws);
});
after(async () => {
  await d?.stop();
  ws?.cleanup();
});

test('NaN from a transform is quarantined with the reason, in a NOT NULL REAL column and in an untyped one', async () => {
  const file = ws.correction(
    'nan',
    `import { defineCorrection } from 'redress';
export default defineCorrection<{ id: number; ratio: number; score: unknown }>({
  id: 'nan', description: '0/0 where it should not be', target: { table: 'm', key: 'id' }, expects: { ratio: 'real' },
  transform: (row) => (row.id === 1 ? { ratio: 0 / 0 } : row.id === 2 ? { score: Math.sqrt(-1) } : { ratio: row.ratio * 2 }),
  options: { quarantineThreshold: 1 },
});`,
  );
  const dry = await dryRun(d.client, file);
  assert.deepEqual([dry.counts.changed, dry.counts.quarantined], [2, 2]);
  const q = await d.client.request('diffs', { runId: dry.id, status: 'quarantined' });
  assert.equal(q.rows.length, 2);
  for (const r of q.rows) assert.match(r.reason!, /does not fit.*NaN/);
  const applied = await runToEnd(d.client, d.client.request('apply', { planId: dry.planId! }));
  assert.equal(applied.status, 'completed', applied.message ?? '');
  const db = ws.db();
  try {
    assert.deepStrictEqual(
      db.prepare('SELECT ratio, score FROM m ORDER BY id').all(),
      [
        { ratio: 0.5, score: 'x' },
        { ratio: 1, score: 'x' },
        { ratio: 3, score: 'x' },
        { ratio: 4, score: 'x' },
      ],
    );
  } finally {
    db.close();
  }
});
