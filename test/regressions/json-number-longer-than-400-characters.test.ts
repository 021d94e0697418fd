// Regression (found by test/shared/values.test.ts): canonical JSON matched number literals in a window
// of 400 characters, so valid JSON holding a longer number (a PostgreSQL numeric can have thousands of
// digits) was refused as "invalid JSON". The SQLite target then compared such documents as raw text, and
// a document whose keys were only reordered showed up as a change. Literals of any length are read now.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { canonicalJson } from '../../shared/values';
import { dryRun, makeWorkspace, startTestDaemon, type RunningDaemon, type Workspace } from '../helpers/harness';

const LONG = '7'.repeat(600);

let ws: Workspace;
let d: RunningDaemon;

before(async () => {
  ws = makeWorkspace((db) => {
    db.exec('CREATE TABLE docs (id INTEGER PRIMARY KEY, doc JSON NOT NULL)');
    db.prepare('INSERT INTO docs VALUES (1, ?), (2, ?)').run(`{"b": ${LONG}, "a": 1}`, `{"b": 0.${LONG}, "a": 2}`);
  });
  d = await startTestDaemon(ws);
});
after(async () => {
  await d?.stop();
  ws?.cleanup();
});

test('canonical JSON reads a 600-digit number', () => {
  assert.equal(canonicalJson(`{"b": ${LONG}, "a": 1}`), `{"a":1,"b":${LONG}}`);
  assert.equal(canonicalJson(`[0.${LONG}0]`), `[0.${LONG}]`);
});

test('reordering the keys of a document holding a 600-digit number is not a change', async () => {
  const file = ws.correction(
    'reorder-keys',
    `import { defineCorrection } from 'redress';
export default defineCorrection<{ id: number; doc: string }>({
  id: 'reorder-keys', description: 'write the same document with a before b', target: { table: 'docs', key: 'id' }, expects: { doc: 'json' },
  transform: (row) => {
    const b = /"b": ([0-9.]+)/.exec(row.doc)![1];
    const a = /"a": ([0-9]+)/.exec(row.doc)![1];
    return { doc: '{"a": ' + a + ', "b": ' + b + '}' };
  },
});`,
  );
  const dry = await dryRun(d.client, file);
  assert.deepEqual([dry.counts.changed, dry.counts.unchanged, dry.counts.quarantined], [0, 2, 0]);
});
