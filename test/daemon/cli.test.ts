// The real `redress` CLI (dist/cli.js) in temp workspaces: every command has --help; exit codes are the
// ones README.md and docs/cli.md promise; --json prints exactly one JSON object with the counts.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { CLI, cli, collect, ROOT, said, type CliResult } from '../helpers/cli';
import { makeWorkspace, startTestDaemon, type RunningDaemon, type Workspace } from '../helpers/harness';

/** stdout must be exactly one JSON object, on one line. */
function oneObject(r: CliResult): Record<string, unknown> {
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, `--json printed ${lines.length} lines:\n${r.stdout}`);
  const o = JSON.parse(lines[0]!) as unknown;
  assert.ok(o !== null && typeof o === 'object' && !Array.isArray(o), `not a JSON object: ${r.stdout}`);
  return o as Record<string, unknown>;
}

const COUNTS = ['scanned', 'changed', 'unchanged', 'skipped', 'quarantined'] as const;
function hasCounts(o: Record<string, unknown>): void {
  for (const k of COUNTS) assert.equal(typeof o[k], 'number', `"${k}" missing from ${JSON.stringify(o)}`);
}

const ROWS = 40;
const LOWER = `import { defineCorrection } from 'redress';
export default defineCorrection<{ id: number; email: string | null }>({
  id: 'lower', description: 'lower-case emails', target: { table: 'accounts', key: 'id' }, expects: { email: 'text' },
  transform: (r, ctx) => (r.email === null ? ctx.skip('no email') : { email: r.email.toLowerCase() }),
  options: { batchSize: 7 },
});`;

let ws: Workspace;
let d: RunningDaemon;

before(async () => {
  ws = makeWorkspace((db) => {
    db.exec('CREATE TABLE accounts (id INTEGER PRIMARY KEY, email TEXT)');
    const ins = db.prepare('INSERT INTO accounts VALUES (?, ?)');
    for (let i = 1; i <= ROWS; i++) ins.run(i, i % 10 === 0 ? null : i % 4 === 0 ? `user${i}@example.com` : `User${i}@Example.com`);
  }, 'redress-cli-');
  // The CLI finds this daemon through .redress/daemon.json, as it finds one it started itself.
  d = await startTestDaemon(ws);
});
after(async () => {
  await d?.stop();
  ws?.cleanup();
});

/** Every command and subcommand, read from the CLI's own help. */
async function commands(): Promise<string[]> {
  const names = (help: string) => {
    const section = help.slice(help.indexOf('Commands:'));
    return [...section.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1]!).filter((n) => n !== 'help');
  };
  const top = names((await cli(ws.dir, '--help')).stdout);
  const out: string[] = [];
  for (const name of top) {
    out.push(name);
    const sub = await cli(ws.dir, name, '--help');
    if (sub.stdout.includes('Commands:')) out.push(...names(sub.stdout).map((s) => `${name} ${s}`));
  }
  return out;
}

describe('--help', () => {
  let all: string[] = [];
  before(async () => {
    all = await commands();
  });

  test('the CLI lists every command the README and docs/cli.md describe, and no other', () => {
    const expected = ['init', 'preview', 'snapshot', 'dry-run', 'apply', 'tune', 'rollback', 'verify', 'resume', 'pause', 'cancel', 'runs', 'status', 'diffs', 'ledger', 'ledger verify', 'daemon', 'daemon start', 'daemon stop', 'daemon status'];
    assert.deepEqual([...all].sort(), [...expected].sort());
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const docs = readFileSync(join(ROOT, 'docs', 'cli.md'), 'utf8');
    for (const c of all.filter((x) => x !== 'ledger' && x !== 'daemon')) {
      const leaf = c.split(' ').pop()!;
      assert.match(readme, new RegExp(`\`[^\`\\n]*\\b${leaf}\\b[^\`\\n]*\``), `README.md does not name \`${c}\``);
      assert.ok(docs.includes(`redress ${c}`), `docs/cli.md does not describe \`redress ${c}\``);
    }
  });

  test('every command has --help: exit 0 and the usage line names the command', async () => {
    for (const c of all) {
      const r = await cli(ws.dir, ...c.split(' '), '--help');
      assert.equal(r.status, 0, `${c} --help: ${said(r)}`);
      assert.match(r.stdout, new RegExp(`^Usage: redress ${c}\\b`, 'm'), `${c} --help: ${said(r)}`);
    }
  });
});

describe('--json prints one JSON object with the id and the counts', () => {
  let planId = '';
  let rollbackRunId = '';
  let applyRunId = '';

  test('preview', async () => {
    const r = await cli(ws.dir, '--json', 'preview', ws.correction('lower', LOWER));
    assert.equal(r.status, 0, said(r));
    const o = oneObject(r);
    assert.equal(o.correctionId, 'lower');
    hasCounts(o);
    assert.equal(o.scanned, ROWS);
  });

  test('dry-run', async () => {
    const r = await cli(ws.dir, '--json', 'dry-run', ws.correction('lower', LOWER));
    assert.equal(r.status, 0, said(r));
    const o = oneObject(r);
    hasCounts(o);
    assert.equal(typeof o.runId, 'string');
    assert.deepEqual([o.kind, o.status, o.scanned, o.changed, o.unchanged, o.skipped, o.quarantined], ['dry-run', 'completed', ROWS, 28, 8, 4, 0]);
    planId = o.planId as string;
    assert.match(planId, /\S/);
  });

  test('apply', async () => {
    const r = await cli(ws.dir, '--json', 'apply', planId);
    assert.equal(r.status, 0, said(r));
    const o = oneObject(r);
    hasCounts(o);
    assert.deepEqual([o.kind, o.status, o.planId], ['apply', 'completed', planId]);
    assert.equal((o.apply as { applied: number }).applied, 28);
    assert.equal(o.concurrency, 1, 'SQLite writes one batch at a time, and the run says so');
    applyRunId = o.runId as string;
    const text = await cli(ws.dir, 'status', applyRunId);
    assert.match(text.stdout, /written 28 .*\(1 batch at once\)/, said(text));
  });

  test('verify', async () => {
    const r = await cli(ws.dir, '--json', 'verify', applyRunId);
    assert.equal(r.status, 0, said(r));
    const o = oneObject(r);
    hasCounts(o);
    assert.deepEqual([o.kind, o.status], ['verify', 'completed']);
    assert.notEqual(o.runId, applyRunId);
  });

  test('rollback', async () => {
    const r = await cli(ws.dir, '--json', 'rollback', applyRunId);
    assert.equal(r.status, 0, said(r));
    const o = oneObject(r);
    hasCounts(o);
    assert.deepEqual([o.kind, o.status], ['rollback', 'completed']);
    assert.equal((o.apply as { applied: number }).applied, 28);
    rollbackRunId = o.runId as string;
    const db = ws.db();
    try {
      assert.equal((db.prepare("SELECT count(*) AS n FROM accounts WHERE email <> lower(email)").get() as { n: bigint }).n, 28n, 'every row is back');
    } finally {
      db.close();
    }
  });

  test('runs: the columns line up when run ids differ in length (a rollback id is longer)', async () => {
    const r = await cli(ws.dir, 'runs');
    assert.equal(r.status, 0, said(r));
    const lines = r.stdout.trim().split('\n');
    const ids = lines.map((l) => l.split(' ')[0]!);
    assert.ok(new Set(ids.map((id) => id.length)).size > 1, `ids of one length only: ${ids.join(', ')}`);
    const kindAt = lines.map((l) => l.search(/ (dry-run|apply|verify|rollback) /));
    assert.equal(new Set(kindAt).size, 1, `the kind column starts at ${kindAt.join(', ')}:\n${r.stdout}`);
  });

  test('after a rollback: its status says how to check it; resuming the apply it undid is refused (exit 2)', async () => {
    const st = await cli(ws.dir, 'status', rollbackRunId);
    assert.equal(st.status, 0, said(st));
    assert.match(st.stdout, new RegExp(`check that every row is back with \`redress verify ${rollbackRunId}\``));
    const r = await cli(ws.dir, 'resume', applyRunId);
    assert.equal(r.status, 2, said(r));
    // (A completed apply is refused for being completed; a halted or paused one for having been rolled
    // back: test/postgres/planTamper.test.ts.)
    assert.match(r.stderr, new RegExp(`Run ${applyRunId} is completed; only paused, interrupted, halted or failed runs can be resumed`));
  });

  test('an error is one JSON object too, with the code and the message', async () => {
    const r = await cli(ws.dir, '--json', 'verify', 'no-such-run');
    assert.equal(r.status, 2, said(r));
    const o = oneObject(r) as { error: { code: string; message: string } };
    assert.equal(o.error.code, 'RUN_NOT_FOUND');
    assert.match(o.error.message, /redress runs/);
  });
});

describe('exit codes', () => {
  test('2: a correction that does not compile (preview and dry-run), with file:line and what to do', async () => {
    const broken = ws.correction('broken', `import { defineCorrection } from 'redress';\nexport default defineCorrection({ id: 'broken', description: 'x',\n  target: { table: 'accounts', key: 'id' }, expects: {}, transform(row) { return { email: ; } } });`);
    for (const cmd of ['preview', 'dry-run']) {
      const r = await cli(ws.dir, cmd, broken);
      assert.equal(r.status, 2, `${cmd}: ${said(r)}`);
      assert.match(r.stderr, /broken\.correction\.ts:3:\d+: error:/, said(r));
    }
  });

  test('2: an unknown plan or run', async () => {
    const cases: [string[], RegExp][] = [
      [['apply', 'no-such-plan'], /No plan no-such-plan/],
      [['verify', 'no-such-run'], /No run with id no-such-run/],
      [['rollback', 'no-such-run'], /No run with id no-such-run/],
      [['status', 'no-such-run'], /No run with id no-such-run/],
      [['resume', 'no-such-run'], /No run with id no-such-run/],
    ];
    for (const [args, says] of cases) {
      const r = await cli(ws.dir, ...args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${said(r)}`);
      assert.match(r.stderr, says, said(r));
    }
  });

  test('2: a usage error (missing argument, unknown option, unknown command)', async () => {
    for (const args of [['apply'], ['dry-run', 'x.correction.ts', '--no-such-option'], ['no-such-command']]) {
      const r = await cli(ws.dir, ...args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${said(r)}`);
      assert.match(r.stderr, /^error: /m, said(r));
    }
  });

  test('2: an option value of the wrong kind, naming the option and what to give, before the daemon is asked', async () => {
    for (const [args, says] of [
      [['apply', 'plan_x', '--concurrency', '0'], /option '--concurrency <n>' argument '0' is invalid\. Give a whole number, 1 or more\./],
      [['apply', 'plan_x', '--concurrency', '2.5'], /option '--concurrency <n>' argument '2\.5' is invalid/],
      [['apply', 'plan_x', '--pause-ms', 'abc'], /option '--pause-ms <ms>' argument 'abc' is invalid\. Give a whole number of milliseconds, 0 or more/],
      [['apply', 'plan_x', '--pause-ms', '-5'], /option '--pause-ms <ms>' argument '-5' is invalid/],
      [['apply', 'plan_x', '--max-transaction-age', 'soon'], /option '--max-transaction-age <s>' argument 'soon' is invalid\. Give a number of seconds/],
      [['tune', 'run_x', '--pause-ms', ''], /option '--pause-ms <ms>' argument '' is invalid/],
      [['preview', 'x.correction.ts', '--seed', 'one'], /option '--seed <n>' argument 'one' is invalid\. Give a whole number\./],
      [['diffs', 'run_x', '--offset', '-1'], /option '--offset <n>' argument '-1' is invalid/],
    ] as const) {
      const r = await cli(ws.dir, ...args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${said(r)}`);
      assert.match(r.stderr, says, said(r));
    }
    const r = await cli(ws.dir, '--json', 'apply', 'plan_x', '--concurrency', '0');
    assert.equal(r.status, 2, said(r));
    assert.deepEqual(oneObject(r), { error: { code: 'CONFIG', message: "option '--concurrency <n>' argument '0' is invalid. Give a whole number, 1 or more." } }, 'with --json, one JSON object on stdout');
  });

  test('2: a folder that is not a workspace (no redress.config.json), and nothing is created there or above it', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'redress-not-a-workspace-'));
    try {
      for (const dir of [outside, join(outside, 'no', 'such', 'folder')]) {
        const r = await cli(dir, 'runs');
        assert.equal(r.status, 2, said(r));
        assert.match(r.stderr, /No redress\.config\.json in .*Run `redress init --sqlite <file>` or `redress init --postgres <url> --schema <name>` there first/, said(r));
      }
      assert.deepEqual(readdirSync(outside), [], 'no .redress/ and no folders made');
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  test('2: a workspace whose SQLite target file does not exist, with the path and what to do', async () => {
    const w = mkdtempSync(join(tmpdir(), 'redress-missing-target-'));
    try {
      writeFileSync(join(w, 'redress.config.json'), JSON.stringify({ target: { kind: 'sqlite', path: 'nothere.sqlite' } }));
      const r = await cli(w, 'runs');
      assert.equal(r.status, 2, said(r));
      assert.match(r.stderr, /Cannot open the SQLite target .*nothere\.sqlite.*Check the path in redress\.config\.json/, said(r));
    } finally {
      rmSync(w, { recursive: true, force: true });
    }
  });

  test('0: output piped into a reader that stops early (`diffs … | head -n 1`) ends quietly', async () => {
    const dry = oneObject(await cli(ws.dir, '--json', 'dry-run', ws.correction('lower-for-pipe', LOWER.replace("'lower'", "'lower-for-pipe'"))));
    const r = await collect('bash', ['-c', `"${process.execPath}" "${CLI}" -w "${ws.dir}" diffs ${String(dry.runId)} --limit 5000 | head -n 1; exit \${PIPESTATUS[0]}`], ws.dir);
    assert.equal(r.status, 0, said(r));
    assert.equal(r.stdout.trim().split('\n').length, 1, said(r));
    assert.doesNotMatch(r.stderr, /EPIPE|Error|at /, said(r));
  });

  test('2: diffs --column naming a column the table does not have (it matched nothing, silently)', async () => {
    const dry = oneObject(await cli(ws.dir, '--json', 'dry-run', ws.correction('lower', LOWER)));
    const r = await cli(ws.dir, 'diffs', String(dry.runId), '--column', 'emial');
    assert.equal(r.status, 2, said(r));
    assert.match(r.stderr, /No column "emial" in accounts, the table this plan changes\. Its columns: id, email/);
    const ok = await cli(ws.dir, '--json', 'diffs', String(dry.runId), '--column', 'email', '--limit', '1');
    assert.equal(ok.status, 0, said(ok));
  });

  test('2: apply --concurrency 2 on SQLite, which has one writer: refused before anything is written', async () => {
    const dry = oneObject(await cli(ws.dir, '--json', 'dry-run', ws.correction('lower-lanes', LOWER.replace("'lower'", "'lower-lanes'"))));
    const r = await cli(ws.dir, 'apply', String(dry.planId), '--concurrency', '2');
    assert.equal(r.status, 2, said(r));
    assert.match(r.stderr, /--concurrency 2 is more than sqlite:\S+ can write at once: it writes one batch at a time\. Give --concurrency 1\./);
    const { runs } = oneObject(await cli(ws.dir, '--json', 'runs', '-n', '500')) as { runs: { kind: string; planId: string | null }[] };
    assert.ok(runs.some((x) => x.kind === 'dry-run' && x.planId === dry.planId));
    assert.deepEqual(runs.filter((x) => x.kind === 'apply' && x.planId === dry.planId), [], 'no apply run of the plan was created');
  });

  test('1: a run that halts (past the quarantine threshold)', async () => {
    const f = ws.correction('all-bad', `import { defineCorrection } from 'redress';\nexport default defineCorrection({ id: 'all-bad', description: 'x', target: { table: 'accounts', key: 'id' }, expects: {}, transform: (row, ctx) => ctx.quarantine('needs a person'), options: { batchSize: 10 } });`);
    const r = await cli(ws.dir, '--json', 'dry-run', f);
    assert.equal(r.status, 1, said(r));
    const o = oneObject(r);
    assert.equal(o.status, 'halted');
    assert.match(o.message as string, /more than the threshold/);
  });

  test('4: ledger verify finds an edited ledger (0 before the edit)', async () => {
    const clean = await cli(ws.dir, 'ledger', 'verify');
    assert.equal(clean.status, 0, said(clean));
    const l = new Database(join(ws.dir, '.redress', 'ledger.sqlite'));
    try {
      l.prepare(`UPDATE plan_rows SET after = ? WHERE seq = (SELECT min(seq) FROM plan_rows WHERE status = 'changed')`).run('{"email":"attacker@example.com"}');
    } finally {
      l.close();
    }
    const r = await cli(ws.dir, 'ledger', 'verify');
    assert.equal(r.status, 4, said(r));
    assert.match(r.stdout, /LEDGER DOES NOT VERIFY/);
    const j = await cli(ws.dir, '--json', 'ledger', 'verify');
    assert.equal(j.status, 4, said(j));
    assert.equal(oneObject(j).ok, false);
  });

  describe('3: the daemon is unavailable', () => {
    let dead: Workspace;
    before(() => {
      dead = makeWorkspace((db) => db.exec('CREATE TABLE accounts (id INTEGER PRIMARY KEY, email TEXT)'), 'redress-cli-dead-');
    });
    after(() => dead?.cleanup());

    test('daemon status with no daemon running', async () => {
      const r = await cli(dead.dir, 'daemon', 'status');
      assert.equal(r.status, 3, said(r));
      assert.match(r.stdout, /No daemon running/);
    });

    test('daemon.json names a port nobody listens on, and a new daemon cannot start (its ledger is not a database)', async () => {
      // A port that was free a moment ago and is closed again: connecting to it is refused.
      const port = await new Promise<number>((resolve) => {
        const s = createServer().listen(0, '127.0.0.1', () => {
          const p = (s.address() as { port: number }).port;
          s.close(() => resolve(p));
        });
      });
      const state = join(dead.dir, '.redress');
      mkdirSync(state, { recursive: true });
      writeFileSync(join(state, 'daemon.json'), JSON.stringify({ pid: 999999, port, secret: 'x', version: '0', protocol: 1, workspace: dead.dir, startedAt: '2000-01-01T00:00:00.000Z' }), { mode: 0o600 });
      writeFileSync(join(state, 'ledger.sqlite'), 'this is not a SQLite database, so the daemon cannot open its ledger');
      const r = await cli(dead.dir, 'preview', dead.correction('noop', `import { defineCorrection } from 'redress';\nexport default defineCorrection({ id: 'noop', description: 'x', target: { table: 'accounts', key: 'id' }, expects: {}, transform: () => ({}) });`));
      assert.equal(r.status, 3, said(r));
      assert.match(r.stderr, /The daemon exited \(code \d+\) before it was ready: .*not a database.*See \.redress\/daemon\.log/s, said(r));
      const j = await cli(dead.dir, '--json', 'runs');
      assert.equal(j.status, 3, said(j));
      assert.equal((oneObject(j) as { error: { code: string } }).error.code, 'DAEMON_UNAVAILABLE');
    });
  });
});
