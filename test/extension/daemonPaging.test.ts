// The diff viewer's run source against a real daemon: a dry-run with 100,000 planned rows is paged,
// filtered by status, column and text through the protocol's `diffs` method; the `schema` method
// serves the table picker and typed rows.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { daemonSource } from '../../extension/webview/model';
import { dryRun, makeWorkspace, startTestDaemon, type RunningDaemon, type Workspace } from '../helpers/harness';

const ROWS = 100_000;
let ws: Workspace;
let d: RunningDaemon;

before(async () => {
  ws = makeWorkspace((db) => {
    db.exec(`CREATE TABLE people (id INTEGER PRIMARY KEY, email TEXT NOT NULL, note TEXT);
      WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${ROWS})
      INSERT INTO people SELECT i, 'User' || i || '@Example.com', CASE WHEN i % 1000 = 0 THEN NULL ELSE 'n' END FROM n;`);
  });
  d = await startTestDaemon(ws);
});
after(async () => {
  await d?.stop();
  ws?.cleanup();
});

test('100,000 planned rows page through the daemon; filters by status, column and text', async () => {
  const file = ws.correction(
    'lower-emails',
    `import { defineCorrection } from 'redress';
export default defineCorrection<{ id: number; email: string; note: string | null }>({
  id: 'lower-emails', description: 'lower-case emails', target: { table: 'people', key: 'id' },
  expects: { email: 'text', note: 'any' },
  transform: (row, ctx) => (row.note === null ? ctx.quarantine('no note: ask the owner') : { email: row.email.toLowerCase() }),
  options: { batchSize: 5000, quarantineThreshold: 0.01 },
});`,
  );
  const run = await dryRun(d.client, file);
  assert.equal(run.counts.changed, ROWS - ROWS / 1000);
  const src = daemonSource((p) => d.client.request('diffs', p), run.id);
  const first = await src.page(0, 100, {});
  assert.equal(first.total, ROWS);
  assert.equal(first.rows.length, 100);
  assert.deepEqual(first.rows[0]!.changes, { email: { before: 'User1@Example.com', after: 'user1@example.com' } });
  const last = await src.page(ROWS - 100, 100, {});
  assert.deepEqual(last.rows.at(-1)!.key, { id: { $int: String(ROWS) } });
  const quarantined = await src.page(0, 100, { status: 'quarantined' });
  assert.equal(quarantined.total, ROWS / 1000);
  assert.equal(quarantined.rows[0]!.reason, 'no note: ask the owner');
  assert.equal((await src.page(0, 10, { column: 'email' })).total, ROWS - ROWS / 1000);
  assert.equal((await src.page(0, 10, { column: 'note' })).total, 0);
  const one = await src.page(0, 10, { text: 'USER4242@' });
  assert.equal(one.total, 1, 'text matches case-insensitively, inside values');
  assert.equal((await src.page(0, 10, { text: 'ask the OWNER' })).total, ROWS / 1000, 'text matches reasons');
  assert.equal((await src.page(0, 10, { text: '100%' })).total, 0, '% is matched literally');
  assert.equal((await src.page(0, 10, { status: 'changed', text: 'user99999@' })).total, 1);
});

test('schema: every table with columns, keys and fingerprint; one table by name; an unknown one is NO_TABLE', async () => {
  const all = await d.client.request('schema', {});
  assert.equal(all.kind, 'sqlite');
  assert.deepEqual(all.tables.map((t) => t.table), ['people']);
  const people = all.tables[0]!;
  assert.deepEqual(people.columns, [
    { name: 'id', type: 'INTEGER', notNull: true },
    { name: 'email', type: 'TEXT', notNull: true },
    { name: 'note', type: 'TEXT', notNull: false },
  ]);
  assert.deepEqual(people.uniqueKeys, [['id']]);
  assert.match(people.fingerprint, /^[0-9a-f]{64}$/);
  assert.deepEqual((await d.client.request('schema', { table: 'people' })).tables, all.tables);
  await assert.rejects(d.client.request('schema', { table: 'nope' }), /NO_TABLE|does not exist/);
});
