// Regression (found by test/shared/values.test.ts): canonical JSON rounded a number through a double
// whenever the double was a whole number, so {"x": 1.00000000000000001} and {"x": 1} had one canonical
// form. A correction that changed a JSON column from one to the other planned nothing ("unchanged"),
// and a row hash could not tell them apart. Decimals with an exponent lost digits the same way
// (1.00000000000000001e0 was 1, 1e-400 was 0, 1e400 and 2e400 were both Infinity). Numbers now keep
// every digit; 1.0, 1e0 and 1 are still one number.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { canonicalJson } from '../../shared/values';
import { dryRun, makeWorkspace, startTestDaemon, type RunningDaemon, type Workspace } from '../helpers/harness';

let ws: Workspace;
let d: RunningDaemon;

before(async () => {
  ws = makeWorkspace((db) => {
    db.exec('CREATE TABLE docs (id INTEGER PRIMARY KEY, doc JSON NOT NULL)');
    db.prepare('INSERT INTO docs VALUES (1, ?), (2, ?), (3, ?)').run('{"x": 1.00000000000000001}', '{"x": 1.0}', '{"x": 1e-400}');
  });
  d = await startTestDaemon(ws);
});
after(async () => {
  await d?.stop();
  ws?.cleanup();
});

test('canonical JSON keeps decimal digits a double cannot hold', () => {
  assert.notEqual(canonicalJson('{"x": 1.00000000000000001}'), canonicalJson('{"x": 1}'));
  assert.notEqual(canonicalJson('1.00000000000000001e0'), canonicalJson('1'));
  assert.notEqual(canonicalJson('1e-400'), canonicalJson('0'));
  assert.notEqual(canonicalJson('1e400'), canonicalJson('2e400'));
  assert.equal(canonicalJson('{"x": 1.0}'), canonicalJson('{"x": 1e0}'));
});

test('a dry-run that sets {"x": 1} plans the rows whose x is a different number, and only those', async () => {
  const file = ws.correction(
    'x-to-one',
    `import { defineCorrection } from 'redress';
export default defineCorrection<{ id: number; doc: string }>({
  id: 'x-to-one', description: 'x becomes exactly 1', target: { table: 'docs', key: 'id' }, expects: { doc: 'json' },
  transform: () => ({ doc: '{"x": 1}' }),
});`,
  );
  const dry = await dryRun(d.client, file);
  assert.deepEqual([dry.counts.changed, dry.counts.unchanged], [2, 1], '1.00000000000000001 and 1e-400 change; 1.0 is already 1');
  const { rows } = await d.client.request('diffs', { runId: dry.id, status: 'changed' });
  assert.deepEqual(
    rows.map((r) => r.key.id),
    [{ $int: '1' }, { $int: '3' }],
  );
});
