import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { dryRun, makeWorkspace, runToEnd, startTestDaemon, tableRows, type RunningDaemon, type Workspace } from '../helpers/harness';

let ws: Workspace;
let d: RunningDaemon;

before(async () => {
  ws = makeWorkspace((db) => {
    db.exec(`CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT)`);
    const ins = db.prepare('INSERT INTO people VALUES (?, ?, ?)');
    for (let i = 1; i <= 50; i++) ins.run(i, `Person ${i}`, i % 3 === 0 ? `P${i}@Example.COM` : `p${i}@example.com`);
  });
  d = await startTestDaemon(ws);
});
after(async () => {
  await d?.stop();
  ws?.cleanup();
});

test('lowercasing emails: dry-run plans exactly the mixed-case rows, apply writes them, rollback restores them', async () => {
  const file = ws.correction(
    'lower-email',
    `import { defineCorrection } from 'redress';
export default defineCorrection<{ id: number; email: string | null }>({
  id: 'lower-email', description: 'lower-case emails', target: { table: 'people', key: 'id' },
  expects: { email: 'text' },
  transform: (row) => ({ email: row.email?.toLowerCase() ?? null }),
  options: { batchSize: 7 },
});`,
  );
  const original = tableRows(ws.db(), 'people', 'id');
  const dry = await dryRun(d.client, file);
  assert.equal(dry.counts.scanned, 50);
  assert.equal(dry.counts.changed, 16);
  assert.equal(dry.counts.unchanged, 34);
  const applied = await runToEnd(d.client, d.client.request('apply', { planId: dry.planId! }));
  assert.equal(applied.status, 'completed');
  assert.deepEqual(applied.apply, { applied: 16, alreadyApplied: 0, drifted: 0 });
  const emails = tableRows(ws.db(), 'people', 'id').map((r) => r.email as string);
  assert.ok(emails.every((e) => e === e.toLowerCase()));
  const verified = await runToEnd(d.client, d.client.request('verify', { runId: applied.id }));
  assert.deepEqual([verified.apply.applied, verified.apply.drifted], [16, 0]);
  const rolled = await runToEnd(d.client, d.client.request('rollback', { runId: applied.id }));
  assert.equal(rolled.apply.applied, 16);
  assert.deepEqual(tableRows(ws.db(), 'people', 'id'), original);
});
