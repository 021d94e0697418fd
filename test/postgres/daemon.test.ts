// The PostgreSQL target through a real daemon: dry-run, apply, verify, rollback; connection errors.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { openTarget } from '../../daemon/targets/open';
import { RedressError } from '../../shared/errors';
import { dryRun, runToEnd, startTestDaemon, type RunningDaemon, type Workspace } from '../helpers/harness';
import { pgSchema, pgWorkspace, tableText, type PgSchema } from '../helpers/pg';

let s: PgSchema;
let ws: ReturnType<typeof pgWorkspace>;
let d: RunningDaemon;

before(async () => {
  s = await pgSchema('daemon');
  await s.sql(`CREATE TABLE people (id int8 PRIMARY KEY, name text NOT NULL, email text, born timestamptz, balance numeric(12,2), prefs jsonb)`);
  await s.sql(`INSERT INTO people SELECT i, 'Person ' || i, CASE WHEN i % 3 = 0 THEN 'P' || i || '@Example.COM' ELSE 'p' || i || '@example.com' END,
    '2000-01-01 00:00:00.123456+00'::timestamptz + i * interval '1 day 1 microsecond', i * 1.25, jsonb_build_object('z', i, 'a', 9007199254740993 + i)
    FROM generate_series(1, 50) i`);
  ws = pgWorkspace(s);
  // The daemon's own time zone must not matter: values travel as the server's UTC text.
  d = await startTestDaemon(ws as unknown as Workspace, { env: { ...process.env, TZ: 'Asia/Kathmandu' } });
});
after(async () => {
  await d?.stop();
  ws?.cleanup();
  await s?.drop();
});

test('lowercasing emails on PostgreSQL: dry-run plans the mixed-case rows, apply writes them, verify agrees, rollback restores the table exactly', async () => {
  const file = ws.correction(
    'lower-email',
    `import { defineCorrection } from 'redress';
export default defineCorrection<{ id: number; email: string | null }>({
  id: 'lower-email', description: 'lower-case emails', target: { table: 'people', key: 'id' },
  expects: { email: 'text', born: 'timestamp', balance: 'numeric', prefs: 'json' },
  transform: (row) => ({ ...row, email: row.email?.toLowerCase() ?? null }),
  options: { batchSize: 7 },
});`,
  );
  const original = await tableText(s, 'people', 'id');
  const preview = await d.client.request('preview', { correction: file, params: {}, sampleSize: 50 });
  assert.equal(preview.summary.changed, 16);
  assert.deepEqual(Object.keys(preview.diffs[0]!.changes), ['email']);
  const dry = await dryRun(d.client, file);
  assert.deepEqual([dry.counts.scanned, dry.counts.changed, dry.counts.unchanged], [50, 16, 34]);
  const applied = await runToEnd(d.client, d.client.request('apply', { planId: dry.planId! }));
  assert.equal(applied.status, 'completed', applied.message ?? '');
  assert.deepEqual(applied.apply, { applied: 16, alreadyApplied: 0, drifted: 0 });
  const emails = (await s.sql('SELECT email FROM people ORDER BY id')).rows.map((r) => r.email as string);
  assert.ok(emails.every((e) => e === e.toLowerCase()));
  const verified = await runToEnd(d.client, d.client.request('verify', { runId: applied.id }));
  assert.deepEqual([verified.apply.applied, verified.apply.drifted], [16, 0]);
  const rolled = await runToEnd(d.client, d.client.request('rollback', { runId: applied.id }));
  assert.equal(rolled.apply.applied, 16);
  assert.deepEqual(await tableText(s, 'people', 'id'), original);
});

test('wrong credentials: a TARGET error that says to check the user and password, before anything is written', async () => {
  const u = new URL(s.url);
  u.username = 'no_such_user_redress';
  await assert.rejects(openTarget({ kind: 'postgres', connectionString: u.toString() }, ws.dir), (e: unknown) => {
    assert.ok(e instanceof RedressError);
    assert.equal(e.code, 'TARGET');
    assert.match(e.message, /no_such_user_redress/);
    assert.match(e.message, /check the user and password/);
    assert.doesNotMatch(e.message, /options=/);
    return true;
  });
});

test('unreachable server: a TARGET error that says to check host and port and that PostgreSQL runs', async () => {
  await assert.rejects(openTarget({ kind: 'postgres', connectionString: 'postgres://postgres@127.0.0.1:1/test' }, ws.dir), (e: unknown) => {
    assert.ok(e instanceof RedressError);
    assert.equal(e.code, 'TARGET');
    assert.match(e.message, /127\.0\.0\.1:1/);
    assert.match(e.message, /check the host and port/);
    return true;
  });
});

test('a database that does not exist, and a malformed connection string, are TARGET errors that say what to fix', async () => {
  const u = new URL(s.url);
  u.pathname = '/no_such_db_redress';
  await assert.rejects(openTarget({ kind: 'postgres', connectionString: u.toString() }, ws.dir), /database name/);
  await assert.rejects(openTarget({ kind: 'postgres', connectionString: 'host=localhost dbname=x' }, ws.dir), /postgres:\/\/user/);
});

test('a table without a unique key is refused before the run starts, naming the keys it has', async () => {
  await s.sql('CREATE TABLE nokey (id int, v text)');
  const file = ws.correction(
    'nokey',
    `import { defineCorrection } from 'redress';
export default defineCorrection({ id: 'nokey', description: 'x', target: { table: 'nokey', key: 'id' }, expects: {}, transform: () => ({}) });`,
  );
  await assert.rejects(d.client.request('dryRun', { correction: file, params: {} }), /not declared unique.*Unique keys there: none/s);
});

test('redress snapshot and preview --snapshot from the command line', async () => {
  const cli = (...args: string[]) => {
    const r = spawnSync(process.execPath, [join(__dirname, '..', '..', 'dist', 'cli.js'), '-w', ws.dir, '--json', ...args], { encoding: 'utf8', cwd: ws.dir });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };
  const snap = cli('snapshot', 'people', '-n', '20', '--seed', '5', '--mask', 'name:hash', '-o', 'snaps/people.sqlite');
  assert.deepEqual([snap.rows, snap.sourceRows, snap.masked], [20, 50, ['name:hash']]);
  assert.equal(snap.path, join(ws.dir, 'snaps', 'people.sqlite'));
  const file = join(ws.dir, 'corrections', 'lower-email.correction.ts');
  const preview = cli('preview', file, '--snapshot', join(ws.dir, 'snaps', 'people.sqlite'), '-n', '100');
  assert.equal(preview.sampleSize, 20);
  assert.equal((preview.changed as number) + (preview.unchanged as number), 20);
});
