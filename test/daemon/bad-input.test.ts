// Bad input gets a clear error that says what to do, and nothing is lost: target and ledger stay
// consistent. Each case goes through a real daemon over a real WebSocket.
import assert from 'node:assert/strict';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { RedressError } from '../../shared/errors';
import { dryRun, makeWorkspace, runToEnd, startTestDaemon, tableRows, type RunningDaemon, type Workspace } from '../helpers/harness';

let ws: Workspace;
let d: RunningDaemon;
let original: Record<string, unknown>[];

const HEADER = `import { defineCorrection } from 'redress';\n`;
const correction = (name: string, body: string) => ws.correction(name, HEADER + body);

async function rejects(p: Promise<unknown>, code: string, ...says: RegExp[]): Promise<RedressError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof RedressError, `expected a RedressError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    for (const re of says) assert.match(e.message, re);
    return e;
  }
  assert.fail(`expected ${code}`);
}

before(async () => {
  ws = makeWorkspace((db) => {
    db.exec(`CREATE TABLE accounts (id INTEGER PRIMARY KEY, email TEXT, balance INTEGER NOT NULL)`);
    db.exec(`CREATE TABLE logbook (line TEXT, at TEXT)`); // no unique key
    db.exec(`CREATE TABLE tagged (tag TEXT UNIQUE, n INTEGER)`); // unique but nullable key
    const ins = db.prepare('INSERT INTO accounts VALUES (?, ?, ?)');
    for (let i = 1; i <= 300; i++) ins.run(i, i % 10 === 0 ? null : `User${i}@Example.com`, i * 10);
    db.prepare('INSERT INTO logbook VALUES (?, ?)').run('boot', '2026-01-01');
    db.prepare('INSERT INTO tagged VALUES (?, ?)').run(null, 1);
    db.prepare('INSERT INTO tagged VALUES (?, ?)').run('a', 2);
  });
  original = tableRows(ws.db(), 'accounts', 'id');
  // A short batch watchdog, so the endless-loop case does not wait the default 60 s.
  d = await startTestDaemon(ws, { env: { ...process.env, REDRESS_BATCH_TIMEOUT_MS: '3000' } });
});
after(async () => {
  await d?.stop();
  ws?.cleanup();
});

const unchanged = () => assert.deepEqual(tableRows(ws.db(), 'accounts', 'id'), original, 'the target must be untouched');

describe('a correction that cannot run is refused before anything is read or written, with what to do', () => {
  test('syntax error: COMPILE with file:line:column and the esbuild message', async () => {
    const f = correction('broken', `export default defineCorrection({ id: 'broken', description: 'x',\n  target: { table: 'accounts', key: 'id' }, expects: {}, transform(row) { return { email: ; } } });`);
    const e = await rejects(d.client.request('dryRun', { correction: f, params: {} }), 'COMPILE', /broken\.correction\.ts:3:\d+: error:/, /Fix these errors/);
    const diags = e.data?.diagnostics as { line: number }[];
    assert.equal(diags[0]!.line, 3);
    unchanged();
  });

  test('a Node built-in import is a compile error that says corrections are pure', async () => {
    const f = correction('uses-fs', `import { readFileSync } from 'fs';\nexport default defineCorrection({ id: 'uses-fs', description: 'x', target: { table: 'accounts', key: 'id' }, expects: {}, transform: () => ({ email: String(readFileSync) }) });`);
    await rejects(d.client.request('preview', { correction: f, params: {} }), 'COMPILE', /Node built-ins are not available/);
  });

  test('invalid manifest: MANIFEST names the field', async () => {
    const f = correction('bad-id', `export default defineCorrection({ id: 'Bad Id!', description: 'x', target: { table: 'accounts', key: 'id' }, expects: {}, transform: () => ({}) });`);
    await rejects(d.client.request('preview', { correction: f, params: {} }), 'MANIFEST', /id: must be kebab-case/);
  });

  test('no default export of defineCorrection', async () => {
    const f = ws.correction('no-default', `export const x = 1;`);
    await rejects(d.client.request('preview', { correction: f, params: {} }), 'MANIFEST', /export default defineCorrection/);
  });

  test('missing table: NO_TABLE lists the tables there are', async () => {
    const f = correction('no-table', `export default defineCorrection({ id: 'no-table', description: 'x', target: { table: 'acounts', key: 'id' }, expects: {}, transform: () => ({}) });`);
    await rejects(d.client.request('dryRun', { correction: f, params: {} }), 'NO_TABLE', /"acounts" does not exist/, /accounts, logbook, tagged/);
  });

  test('missing column and wrong type: NO_COLUMN says which and lists the columns', async () => {
    const f = correction('no-col', `export default defineCorrection({ id: 'no-col', description: 'x', target: { table: 'accounts', key: 'id' }, expects: { mail: 'text', balance: 'text' }, transform: () => ({}) });`);
    await rejects(d.client.request('dryRun', { correction: f, params: {} }), 'NO_COLUMN', /column "mail" does not exist/, /column "balance" is INTEGER, but the correction expects text/, /Fix `expects`/);
  });

  test('a table without a unique key on the declared key is refused: NO_UNIQUE_KEY', async () => {
    const f = correction('no-key', `export default defineCorrection({ id: 'no-key', description: 'x', target: { table: 'logbook', key: 'line' }, expects: {}, transform: () => ({}) });`);
    await rejects(d.client.request('dryRun', { correction: f, params: {} }), 'NO_UNIQUE_KEY', /not declared unique/, /add a unique index/);
  });

  test('a unique key that holds NULL is refused: NO_UNIQUE_KEY says how many rows', async () => {
    const f = correction('null-key', `export default defineCorrection({ id: 'null-key', description: 'x', target: { table: 'tagged', key: 'tag' }, expects: {}, transform: () => ({}) });`);
    await rejects(d.client.request('dryRun', { correction: f, params: {} }), 'NO_UNIQUE_KEY', /holds NULL in 1 row/);
  });

  test('an invalid WHERE condition is a MANIFEST error naming the correction', async () => {
    const f = correction('bad-where', `export default defineCorrection({ id: 'bad-where', description: 'x', target: { table: 'accounts', key: 'id' }, expects: {}, select: { where: 'nosuchcol > 1' }, transform: () => ({}) });`);
    await rejects(d.client.request('dryRun', { correction: f, params: {} }), 'MANIFEST', /select\.where of bad-where/, /no such column/);
  });
});

describe('rows a transform cannot handle are quarantined with the reason; the run goes on or halts at the threshold', () => {
  test('throws, wrong return type, value that does not fit, changed key: quarantined with reasons, the rest planned', async () => {
    const f = correction(
      'mixed',
      `export default defineCorrection<{ id: number; email: string | null; balance: number }>({
  id: 'mixed', description: 'x', target: { table: 'accounts', key: 'id' }, expects: { email: 'text', balance: 'integer' },
  transform(row) {
    if (row.id === 1) throw new Error('boom on purpose');
    if (row.id === 2) return 'not a row' as never;
    if (row.id === 3) return { balance: null } as never;
    if (row.id === 4) return { id: 99 } as never;
    return { email: row.email?.toLowerCase() ?? null };
  },
  options: { quarantineThreshold: 0.5 },
});`,
    );
    const r = await dryRun(d.client, f);
    assert.equal(r.counts.scanned, 300);
    assert.equal(r.counts.quarantined, 4);
    assert.equal(r.counts.changed, 266);
    assert.equal(r.counts.unchanged, 30, 'NULL emails stay NULL: not a change');
    const q = await d.client.request('diffs', { runId: r.id, status: 'quarantined', offset: 0, limit: 10 });
    const reasons = q.rows.map((x) => x.reason);
    assert.match(reasons[0]!, /transform threw: boom on purpose/);
    assert.match(reasons[1]!, /transform returned a string; return an object/);
    assert.match(reasons[2]!, /value does not fit: column "balance".*NULL in a NOT NULL column/);
    assert.match(reasons[3]!, /changed key column "id"/);
    unchanged();
  });

  test('past the quarantine threshold the dry-run halts with QUARANTINE_LIMIT and no plan', async () => {
    const f = correction('mostly-bad', `export default defineCorrection({ id: 'mostly-bad', description: 'x', target: { table: 'accounts', key: 'id' }, expects: {}, transform(row, ctx) { return ctx.quarantine('needs a person'); }, options: { batchSize: 50 } });`);
    const r = await runToEnd(d.client, d.client.request('dryRun', { correction: f, params: {} }));
    assert.equal(r.status, 'halted');
    assert.match(r.message!, /were quarantined, more than the threshold of 5\.0%/);
    assert.equal(r.planId, null);
    assert.equal(r.counts.scanned, 100, 'judged once 100 rows are in (two batches of 50), then halts at once');
  });

  test('a non-deterministic transform is detected: its rows are quarantined as non-deterministic, never planned', async () => {
    const f = correction(
      'counter',
      `let calls = 0;
export default defineCorrection<{ id: number; email: string | null }>({
  id: 'counter', description: 'x', target: { table: 'accounts', key: 'id' }, expects: { email: 'text' },
  transform: (row) => ({ email: 'v' + (calls++) + '@x' }),
  options: { quarantineThreshold: 1 },
});`,
    );
    const r = await dryRun(d.client, f);
    assert.ok(r.counts.quarantined >= Math.floor(300 / 8), `every re-checked row differs (got ${r.counts.quarantined})`);
    const q = await d.client.request('diffs', { runId: r.id, status: 'quarantined', offset: 0, limit: 1 });
    assert.match(q.rows[0]!.reason!, /non-deterministic: two evaluations of this row gave different results/);
  });

  test('Date, Math.random and ctx.random are fixed per run and row: a clock-reading transform is deterministic', async () => {
    const f = correction(
      'clock',
      `export default defineCorrection<{ id: number; email: string | null }>({
  id: 'clock', description: 'x', target: { table: 'accounts', key: 'id' }, expects: { email: 'text' },
  transform: (row, ctx) => ({ email: new Date().toISOString() + '|' + Date.now() + '|' + Math.random() + '|' + ctx.random() + '|' + (ctx.now.getTime() === Date.now()) }),
});`,
    );
    const r = await dryRun(d.client, f);
    assert.equal(r.counts.quarantined, 0);
    assert.equal(r.counts.changed, 300);
    const rows = (await d.client.request('diffs', { runId: r.id, status: 'changed', offset: 0, limit: 2 })).rows;
    const a = String(rows[0]!.changes.email!.after).split('|');
    const b = String(rows[1]!.changes.email!.after).split('|');
    assert.equal(a[0], b[0], 'one clock for the whole run');
    assert.equal(a[4], 'true', 'ctx.now is the same instant as Date.now()');
    assert.notEqual(a[2], b[2], 'random is seeded per row, not constant');
  });

  test('an endless loop halts the run with TRANSFORM_TIMEOUT; nothing was planned from that batch', async () => {
    const f = correction('spin', `export default defineCorrection({ id: 'spin', description: 'x', target: { table: 'accounts', key: 'id' }, expects: {}, transform() { for (;;) {} } });`);
    const r = await runToEnd(d.client, d.client.request('dryRun', { correction: f, params: {} }));
    assert.equal(r.status, 'halted');
    assert.match(r.message!, /did not finish a batch of \d+ rows in 3s \(an endless loop\?\)/);
    assert.equal(r.counts.scanned, 0);
    // The daemon is still up and answers.
    assert.equal((await d.client.request('status', {})).pid, d.pid);
  });
});

describe('the ledger', () => {
  const lower = () =>
    correction('lower', `export default defineCorrection<{ id: number; email: string | null }>({ id: 'lower', description: 'x', target: { table: 'accounts', key: 'id' }, expects: { email: 'text' }, transform: (r) => ({ email: r.email?.toLowerCase() ?? null }) });`);

  test('a plan whose native file (what apply writes from) was edited is refused at apply: PLAN_TAMPERED; ledger verify reports it', async () => {
    const r = await dryRun(d.client, lower());
    const Database = (await import('better-sqlite3')).default;
    const l = new Database(`${ws.dir}/.redress/ledger.sqlite`, { readonly: true });
    const file = `${ws.dir}/.redress/plans/${(l.prepare('SELECT native_file_hash AS h FROM plans WHERE id = ?').get(r.planId) as { h: string }).h}.sqlite`;
    l.close();
    chmodSync(file, 0o644);
    const p = new Database(file);
    const [email] = JSON.parse((p.prepare('SELECT columns FROM masks').get() as { columns: string }).columns) as number[];
    p.prepare(`UPDATE cas SET a${email} = 'attacker@example.com' WHERE seq = (SELECT min(seq) FROM cas)`).run();
    p.close();
    const applied = await runToEnd(d.client, d.client.request('apply', { planId: r.planId! }));
    assert.equal(applied.status, 'halted');
    assert.match(applied.message!, /is not the plan that was made: its plan file .* was changed after the plan was made\. Nothing was written\. Do not apply it/);
    assert.equal(applied.apply.applied, 0);
    unchanged();
    const v = await d.client.request('ledgerVerify', {});
    assert.equal(v.ok, false);
    assert.ok(v.problems.some((p) => p.includes(r.planId!) && p.includes('native plan file') && p.includes('edited')), v.problems.join('\n'));
  });

  test('a journal beside a native plan file (SQLite would roll it into the file on open) is refused at apply', async () => {
    const f = correction('trim', `export default defineCorrection<{ id: number; email: string | null }>({ id: 'trim', description: 'x', target: { table: 'accounts', key: 'id' }, expects: { email: 'text' }, transform: (r) => ({ email: r.email === null ? null : r.email + ' ' }) });`);
    const r = await dryRun(d.client, f);
    const Database = (await import('better-sqlite3')).default;
    const l = new Database(`${ws.dir}/.redress/ledger.sqlite`, { readonly: true });
    const file = `${ws.dir}/.redress/plans/${(l.prepare('SELECT native_file_hash AS h FROM plans WHERE id = ?').get(r.planId) as { h: string }).h}.sqlite`;
    l.close();
    writeFileSync(`${file}-journal`, 'not a journal');
    try {
      const applied = await runToEnd(d.client, d.client.request('apply', { planId: r.planId! }));
      assert.equal(applied.status, 'halted');
      assert.match(applied.message!, /a journal \(.*-journal\) lies beside its plan file/);
      unchanged();
    } finally {
      rmSync(`${file}-journal`);
    }
  });

  test('a plan whose rows in the ledger were edited: apply still writes only what was planned; ledger verify reports the edit', async () => {
    const upper = correction('upper', `export default defineCorrection<{ id: number; email: string | null }>({ id: 'upper', description: 'x', target: { table: 'accounts', key: 'id' }, expects: { email: 'text' }, transform: (r) => ({ email: r.email?.toUpperCase() ?? null }) });`);
    const r = await dryRun(d.client, upper);
    const Database = (await import('better-sqlite3')).default;
    const l = new Database(`${ws.dir}/.redress/ledger.sqlite`);
    l.prepare(`UPDATE plan_rows SET after = ? WHERE run_id = ? AND seq = (SELECT min(seq) FROM plan_rows WHERE run_id = ? AND status = 'changed')`).run('{"email":"attacker@example.com"}', r.id, r.id);
    l.close();
    const v = await d.client.request('ledgerVerify', {});
    assert.equal(v.ok, false);
    assert.ok(v.problems.some((p) => p.includes(r.planId!) && p.includes('rows were edited')), v.problems.join('\n'));
    const applied = await runToEnd(d.client, d.client.request('apply', { planId: r.planId! }));
    assert.equal(applied.status, 'completed', applied.message ?? '');
    const t = new Database(ws.dbPath, { readonly: true });
    const emails = (t.prepare('SELECT email FROM accounts').all() as { email: string | null }[]).map((x) => x.email);
    t.close();
    assert.ok(!emails.includes('attacker@example.com'), 'the edited value was not written');
    assert.deepEqual(emails, emails.map((e) => e?.toUpperCase() ?? null), 'every planned change was written');
    await runToEnd(d.client, d.client.request('rollback', { runId: applied.id }));
    unchanged();
  });

  test('events are append-only (triggers refuse), and an edit made around the triggers is detected by ledger verify', async () => {
    const Database = (await import('better-sqlite3')).default;
    const l = new Database(`${ws.dir}/.redress/ledger.sqlite`);
    assert.throws(() => l.prepare(`UPDATE events SET data = '{}' WHERE seq = 1`).run(), /append-only/);
    assert.throws(() => l.prepare(`DELETE FROM events WHERE seq = 1`).run(), /append-only/);
    l.exec(`DROP TRIGGER events_append_only_update; UPDATE events SET data = '{"forged":true}' WHERE seq = 2`);
    l.close();
    const v = await d.client.request('ledgerVerify', {});
    assert.equal(v.ok, false);
    assert.ok(v.problems.some((p) => /event 2 .* was edited/.test(p)), v.problems.join('\n'));
  });
});
