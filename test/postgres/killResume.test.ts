// kill -9 of the daemon during an apply on PostgreSQL, at the worst moment (a batch committed on the
// target, its checkpoint not yet in the ledger): resume finishes the run and every row is written once.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { dryRun, startTestDaemon, waitForRun, type RunningDaemon, type Workspace } from '../helpers/harness';
import { pgSchema, pgWorkspace, type PgSchema } from '../helpers/pg';

let s: PgSchema;
let ws: ReturnType<typeof pgWorkspace>;
const daemons: RunningDaemon[] = [];

before(async () => {
  s = await pgSchema('kill');
  await s.sql(`CREATE TABLE accounts (region text, id int4, email text NOT NULL, PRIMARY KEY (region, id))`);
  await s.sql(`INSERT INTO accounts (region, id, email) SELECT r, i, 'User' || i || '@' || upper(r) || '.Example' FROM unnest(ARRAY['eu', 'us', 'ap']) r, generate_series(1, 40) i`);
  // Logs every write a row receives (in another table, so the rows themselves hold only what Redress wrote).
  await s.sql(`CREATE TABLE writes (region text, id int4)`);
  await s.sql(`CREATE FUNCTION log_write() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO writes VALUES (NEW.region, NEW.id); RETURN NEW; END $$`);
  await s.sql(`CREATE TRIGGER log_write AFTER UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION log_write()`);
  ws = pgWorkspace(s);
});
after(async () => {
  for (const d of daemons) await d.stop().catch(() => {});
  ws?.cleanup();
  await s?.drop();
});

test('kill -9 after a batch committed on PostgreSQL but before its checkpoint: resume completes, each row written exactly once', async () => {
  const file = ws.correction(
    'lower-email',
    `import { defineCorrection } from 'redress';
export default defineCorrection<{ region: string; id: number; email: string }>({
  id: 'lower-email', description: 'lower-case emails', target: { table: 'accounts', key: ['region', 'id'] },
  expects: { email: 'text' },
  transform: (row) => ({ email: row.email.toLowerCase() }),
  options: { batchSize: 25 },
});`,
  );
  const d1 = await startTestDaemon(ws as unknown as Workspace, { env: { ...process.env, REDRESS_FAULT: 'after-target-commit:2' } });
  daemons.push(d1);
  const dry = await dryRun(d1.client, file);
  assert.equal(dry.counts.changed, 120);
  // One batch at a time, so exactly two batches are on the target at the kill (batches written at once:
  // test/properties/concurrent-apply-killed-writes-each-row-once.test.ts).
  const { runId } = await d1.client.request('apply', { planId: dry.planId!, concurrency: 1 });
  await new Promise<void>((resolve) => (d1.client.onClose = () => resolve())); // the daemon killed itself
  await d1.kill9();
  const mid = (await s.sql(`SELECT count(*)::int AS n FROM writes`)).rows[0]!.n;
  assert.equal(mid, 50, 'two batches committed on the target before the kill');

  const d2 = await startTestDaemon(ws as unknown as Workspace);
  daemons.push(d2);
  const interrupted = await d2.client.request('run', { runId });
  assert.equal(interrupted.status, 'interrupted');
  assert.equal(interrupted.batchesDone, 1, 'the second batch committed on the target, not in the ledger');
  await d2.client.request('resume', { runId });
  const done = await waitForRun(d2.client, runId);
  assert.equal(done.status, 'completed', done.message ?? '');
  assert.equal(done.apply.applied + done.apply.alreadyApplied, 120);
  assert.equal(done.apply.alreadyApplied, 25, 'the replayed batch found its rows already written');
  const perRow = (await s.sql(`SELECT n, count(*)::int AS keys FROM (SELECT count(*)::int AS n FROM writes GROUP BY region, id) w GROUP BY n`)).rows;
  assert.deepEqual(perRow, [{ n: 1, keys: 120 }], 'every row updated exactly once');
  assert.equal((await s.sql(`SELECT count(*)::int AS n FROM accounts WHERE email <> lower(email)`)).rows[0]!.n, 0);
});
