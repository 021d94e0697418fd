// Regression (found by test/properties/kill9-resume.test.ts on a table keyed by blobs): inside a
// correction, a blob column's value was a Uint8Array of another realm (the worker thread's; the transform
// runs in a vm context of its own), so `row.data instanceof Uint8Array` was false and the correction took
// the wrong branch. Values now reach the transform as the context's own Uint8Array.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { dryRun, makeWorkspace, startTestDaemon, type RunningDaemon, type Workspace } from '../helpers/harness';

let ws: Workspace;
let d: RunningDaemon;

before(async () => {
  ws = makeWorkspace((db) => {
    db.exec('CREATE TABLE files (id INTEGER PRIMARY KEY, data BLOB, size INTEGER)');
    const ins = db.prepare('INSERT INTO files VALUES (?, ?, NULL)');
    ins.run(1n, Buffer.from([1, 2, 3]));
    ins.run(2n, Buffer.alloc(0));
    ins.run(3n, 'not bytes');
  });
  d = await startTestDaemon(ws);
});
after(async () => {
  await d?.stop();
  ws?.cleanup();
});

test('a blob reaches the transform as a Uint8Array the correction recognises', async () => {
  const file = ws.correction(
    'sizes',
    `import { defineCorrection } from 'redress';
export default defineCorrection<{ id: number; data: unknown; size: number | null }>({
  id: 'sizes', description: 'record blob sizes', target: { table: 'files', key: 'id' }, expects: { data: 'blob', size: 'integer' },
  transform: (row, ctx) => (row.data instanceof Uint8Array ? { size: row.data.length } : ctx.skip('not bytes')),
});`,
  );
  const dry = await dryRun(d.client, file);
  assert.deepEqual([dry.counts.changed, dry.counts.skipped], [2, 1]);
  const changed = await d.client.request('diffs', { runId: dry.id, status: 'changed' });
  assert.deepEqual(
    changed.rows.map((r) => [r.key.id, r.changes.size!.after]),
    [
      [{ $int: '1' }, { $int: '3' }],
      [{ $int: '2' }, { $int: '0' }],
    ],
  );
});
