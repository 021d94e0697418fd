// Regression (found by test/properties/kill9-resume.test.ts): a transform that returned a whole double at
// or beyond 2^63 (1e20, 2**63) for a column without a declared type failed the whole dry-run with
// "The bound string, buffer, or bigint is too big": normalize turned every whole number for such a column
// into a BigInt, which SQLite cannot hold past 64 bits. Such a number is REAL, as it is in SQL; and a
// bigint past 64 bits does not fit any SQLite column: its row is quarantined, the run goes on.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { dryRun, makeWorkspace, runToEnd, startTestDaemon, type RunningDaemon, type Workspace } from '../helpers/harness';

let ws: Workspace;
let d: RunningDaemon;

before(async () => {
  ws = makeWorkspace((db) => {
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, u)');
    const ins = db.prepare('INSERT INTO t VALUES (?, ?)');
    for (let i = 1; i <= 7; i++) ins.run(BigInt(i), 'before');
  });
  d = await startTestDaemon(ws);
});
after(async () => {
  await d?.stop();
  ws?.cleanup();
});

test('whole doubles beyond 64 bits are stored as REAL in an untyped column; a bigint beyond 64 bits is quarantined, not a failed run', async () => {
  const file = ws.correction(
    'big-numbers',
    `import { defineCorrection } from 'redress';
const values: Record<number, unknown> = { 1: 1e20, 2: 2 ** 63, 3: -(2 ** 63), 4: -1e300, 5: 2n ** 64n, 6: 5, 7: 'text stays text' };
export default defineCorrection<{ id: number; u: unknown }>({
  id: 'big-numbers', description: 'numbers at the edge of 64 bits', target: { table: 't', key: 'id' }, expects: {},
  transform: (row) => ({ u: values[row.id] as never }),
  options: { quarantineThreshold: 1 },
});`,
  );
  const dry = await dryRun(d.client, file);
  assert.deepEqual([dry.counts.changed, dry.counts.quarantined], [6, 1]);
  const q = await d.client.request('diffs', { runId: dry.id, status: 'quarantined' });
  assert.match(q.rows[0]!.reason!, /does not fit.*64-bit/);
  const applied = await runToEnd(d.client, d.client.request('apply', { planId: dry.planId! }));
  assert.equal(applied.status, 'completed');
  const db = ws.db();
  try {
    const rows = db.prepare('SELECT id, u, typeof(u) AS t FROM t ORDER BY id').all() as { id: bigint; u: unknown; t: string }[];
    assert.deepStrictEqual(
      rows.map((r) => [r.t, r.u]),
      [
        ['real', 1e20],
        ['real', 2 ** 63],
        ['integer', -(2n ** 63n)],
        ['real', -1e300],
        ['text', 'before'],
        ['integer', 5n],
        ['text', 'text stays text'],
      ],
    );
  } finally {
    db.close();
  }
});
