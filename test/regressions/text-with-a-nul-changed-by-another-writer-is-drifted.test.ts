// Regression (found by test/properties/drift-quarantine.test.ts, seed 741624520): the SQLite
// compare-and-set token rendered text through quote(), which stops at the first NUL character. Another
// writer that turned '' into '\0' (or 'a\0b' into 'a\0c') left the token unchanged, so apply overwrote a
// row that had changed since the plan. Text is now tokenised by the hex of its bytes.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { dryRun, makeWorkspace, runToEnd, startTestDaemon, type RunningDaemon, type Workspace } from '../helpers/harness';
import { withDb } from '../helpers/lifecycle';

let ws: Workspace;
let d: RunningDaemon;

before(async () => {
  ws = makeWorkspace((db) => {
    db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, tag TEXT)');
    const ins = db.prepare('INSERT INTO notes VALUES (?, ?, ?)');
    ins.run(1n, '', 'x');
    ins.run(2n, 'a\0b', 'x');
    ins.run(3n, 'plain', 'x');
  });
  d = await startTestDaemon(ws);
});
after(async () => {
  await d?.stop();
  ws?.cleanup();
});

test('text holding a NUL changed by another writer after the plan is drifted, not overwritten', async () => {
  const file = ws.correction(
    'retag',
    `import { defineCorrection } from 'redress';
export default defineCorrection<{ id: number; body: string; tag: string }>({
  id: 'retag', description: 'retag every note', target: { table: 'notes', key: 'id' }, expects: { tag: 'text' },
  transform: () => ({ tag: 'y' }),
});`,
  );
  const dry = await dryRun(d.client, file);
  assert.equal(dry.counts.changed, 3);
  // Another writer: changes only bytes after a NUL, which quote() never showed.
  withDb(ws, (db) => {
    db.prepare('UPDATE notes SET body = ? WHERE id = 1').run('\0');
    db.prepare('UPDATE notes SET body = ? WHERE id = 2').run('a\0c');
  });
  const applied = await runToEnd(d.client, d.client.request('apply', { planId: dry.planId! }));
  assert.equal(applied.status, 'completed', applied.message ?? '');
  assert.deepEqual(applied.apply, { applied: 1, alreadyApplied: 0, drifted: 2 });
  const rows = withDb(ws, (db) => db.prepare('SELECT id, body, tag FROM notes ORDER BY id').all());
  assert.deepEqual(rows, [
    { id: 1n, body: '\0', tag: 'x' },
    { id: 2n, body: 'a\0c', tag: 'x' },
    { id: 3n, body: 'plain', tag: 'y' },
  ]);
});
