// `redress init --postgres <url> --schema <name>`: the workspace it writes reaches the schema's tables
// through the real CLI and daemon; what it cannot turn into a connection string is refused, exit 2.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { cli, said } from '../helpers/cli';
import { PG_URL, pgSchema, type PgSchema } from '../helpers/pg';

let s: PgSchema;
const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'redress-init-pg-'));
  dirs.push(d);
  return d;
};

before(async () => {
  s = await pgSchema('init');
  await s.sql('CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL)');
  await s.sql(`INSERT INTO users SELECT i, 'User' || i || '@Example.COM' FROM generate_series(1, 40) i`);
});
after(async () => {
  for (const d of dirs) {
    await cli(d, 'daemon', 'stop');
    rmSync(d, { recursive: true, force: true });
  }
  await s?.drop();
});

test('init --postgres --schema writes a workspace whose daemon finds the tables in that schema', async () => {
  const dir = tempDir();
  const init = await cli(dir, 'init', '--postgres', PG_URL, '--schema', s.name);
  assert.equal(init.status, 0, said(init));
  const config = JSON.parse(readFileSync(join(dir, 'redress.config.json'), 'utf8')) as { target: { kind: string; connectionString: string } };
  assert.equal(config.target.kind, 'postgres');
  assert.equal(new URL(config.target.connectionString).searchParams.get('options'), `-c search_path=${s.name}`);
  writeFileSync(
    join(dir, 'corrections', 'lower.correction.ts'),
    `import { defineCorrection } from 'redress';
export default defineCorrection<{ id: number; email: string }>({ id: 'lower', description: 'x', target: { table: 'users', key: 'id' }, expects: { email: 'text' }, transform: (r) => ({ email: r.email.toLowerCase() }) });`,
  );
  const preview = await cli(dir, '--json', 'preview', join(dir, 'corrections', 'lower.correction.ts'));
  assert.equal(preview.status, 0, said(preview));
  const o = JSON.parse(preview.stdout) as { scanned: number; changed: number };
  assert.deepEqual([o.scanned, o.changed], [40, 40]);
});

test('init refuses, exit 2, what it cannot make a workspace of: no database, both, a non-postgres URL, --schema without --postgres, a schema name that needs quoting', async () => {
  const cases: [string[], RegExp][] = [
    [[], /Say which database to correct: `redress init --sqlite <file>` or `redress init --postgres <url> \[--schema <name>\]`/],
    [['--sqlite', 'a.sqlite', '--postgres', PG_URL], /Say which database to correct/],
    [['--postgres', 'mysql://root@localhost/db'], /is a mysql: URL\. Give a postgres:\/\/ one/],
    [['--postgres', 'not a url'], /is not a connection URL/],
    [['--sqlite', 'a.sqlite', '--schema', 'x'], /--schema goes with --postgres/],
    [['--postgres', PG_URL, '--schema', 'my schema'], /is not a plain schema name .* put it in the URL yourself/],
  ];
  for (const [args, message] of cases) {
    const dir = tempDir();
    const r = await cli(dir, 'init', ...args);
    assert.equal(r.status, 2, `init ${args.join(' ')}: ${said(r)}`);
    assert.match(r.stderr, message, `init ${args.join(' ')}`);
    assert.throws(() => readFileSync(join(dir, 'redress.config.json')), /ENOENT/, 'no config is written');
  }
});
