// A canary of N rows on SQLite, through the real `redress` CLI and daemon: `--canary 7` applies exactly 7
// plan rows (the 7 lowest in key-hash order, the order `--canary P%` uses too), `--rest-of` applies every
// other planned row and no canary row twice; a canary larger than the plan takes every row; `--canary 5%`
// is a percentage; a size that is neither is refused with what to write instead.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { canaryRank, inCanary } from '../../daemon/engine/apply';
import { Ledger } from '../../daemon/ledger/ledger';
import { fromWire, type WireValue } from '../../shared/values';
import { dryRun, makeWorkspace, startTestDaemon, type RunningDaemon, type Workspace } from '../helpers/harness';

const ROWS = 50;
let ws: Workspace;
let d: RunningDaemon;
let file: string;

before(async () => {
  ws = makeWorkspace((db) => {
    db.exec('CREATE TABLE people (id INTEGER PRIMARY KEY, email TEXT NOT NULL)');
    const ins = db.prepare('INSERT INTO people VALUES (?, ?)');
    for (let i = 1; i <= ROWS; i++) ins.run(i, `Person${i}@Example.COM`);
  }, 'redress-canary-rows-');
  file = ws.correction(
    'lower-email',
    `import { defineCorrection } from 'redress';
export default defineCorrection<{ id: number; email: string }>({
  id: 'lower-email', description: 'lower-case emails', target: { table: 'people', key: 'id' },
  expects: { email: 'text' },
  transform: (row) => ({ email: row.email.toLowerCase() }),
  options: { batchSize: 3 },
});`,
  );
  d = await startTestDaemon(ws);
});
after(async () => {
  await d?.stop();
  ws?.cleanup();
});

function cli(...args: string[]): { status: number | null; out: Record<string, unknown>[]; text: string } {
  const r = spawnSync(process.execPath, [join(__dirname, '..', '..', 'dist', 'cli.js'), '-w', ws.dir, '--json', ...args], { encoding: 'utf8', cwd: ws.dir });
  const out = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { status: r.status, out, text: r.stdout + r.stderr };
}
const loweredIds = (): number[] => {
  const db = ws.db();
  try {
    return (db.prepare('SELECT id FROM people WHERE email = lower(email) ORDER BY id').all() as { id: bigint }[]).map((r) => Number(r.id));
  } finally {
    db.close();
  }
};
/** The plan's row ids in canary order (lowest key-hash rank first), read from the ledger. */
function canaryOrder(planId: string): number[] {
  const ledger = new Ledger(join(ws.dir, '.redress', 'ledger.sqlite'));
  try {
    const rows = ledger.planRows(ledger.requirePlan(planId).dryRunId, -1, 10_000, 'changed');
    return rows
      .map((r) => ({ id: Number(fromWire((JSON.parse(r.key) as WireValue[])[0]!)), rank: canaryRank(r.key) }))
      .sort((a, b) => (a.rank < b.rank ? -1 : 1))
      .map((r) => r.id);
  } finally {
    ledger.close();
  }
}

test('--canary 7 applies exactly the 7 first rows in key-hash order, verifies them and waits (the default); --rest-of applies the other 43; rollback of both restores every row', async () => {
  const dry = await dryRun(d.client, file);
  assert.equal(dry.counts.changed, ROWS);
  const order = canaryOrder(dry.planId!);
  const canary = cli('apply', dry.planId!, '--canary', '7');
  assert.equal(canary.status, 0, canary.text);
  assert.equal(canary.out.length, 1, 'nothing continued by itself');
  const c = canary.out[0]!;
  assert.deepEqual(c.apply, { applied: 7, alreadyApplied: 0, drifted: 0 });
  assert.match(c.message as string, new RegExp(`canary verified: 7 row\\(s\\).*--rest-of ${c.runId}`));
  assert.deepEqual(loweredIds(), order.slice(0, 7).sort((a, b) => a - b), 'the canary slice is the 7 lowest key-hash ranks');

  const rest = cli('apply', dry.planId!, '--rest-of', c.runId as string);
  assert.equal(rest.status, 0, rest.text);
  assert.deepEqual(rest.out[0]!.apply, { applied: ROWS - 7, alreadyApplied: 0, drifted: 0 }, 'the rest: every other row, no canary row twice');
  assert.equal(loweredIds().length, ROWS);

  for (const id of [rest.out[0]!.runId, c.runId] as string[]) assert.equal(cli('rollback', id).status, 0);
  assert.deepEqual(loweredIds(), []);
});

test('a row canary larger than the plan takes every row; with --after-canary continue the rest finds nothing left', async () => {
  const dry = await dryRun(d.client, file);
  const r = cli('apply', dry.planId!, '--canary', '500', '--after-canary', 'continue');
  assert.equal(r.status, 0, r.text);
  assert.equal(r.out.length, 1, '--json prints one object: the rest it started, with the canary inside');
  const rest = r.out[0]!;
  const canary = rest.canary as Record<string, unknown>;
  assert.equal(rest.status, 'completed');
  assert.notEqual(rest.runId, canary.runId);
  assert.deepEqual([(canary.apply as { applied: number }).applied, (rest.apply as { applied: number }).applied], [ROWS, 0]);
  assert.equal(loweredIds().length, ROWS);
  for (const id of [rest.runId, canary.runId] as string[]) assert.equal(cli('rollback', id).status, 0);
  assert.deepEqual(loweredIds(), []);
});

test('--canary 20% is a percentage (the same key-hash order); a size that is neither rows nor a percentage is refused with what to write', async () => {
  const dry = await dryRun(d.client, file);
  const r = cli('apply', dry.planId!, '--canary', '20%', '--after-canary', 'wait');
  assert.equal(r.status, 0, r.text);
  const ledger = new Ledger(join(ws.dir, '.redress', 'ledger.sqlite'));
  const inSlice = ledger.planRows(ledger.requirePlan(dry.planId!).dryRunId, -1, 1000, 'changed').filter((p) => inCanary(p.key, 20)).length;
  ledger.close();
  assert.equal((r.out[0]!.apply as { applied: number }).applied, inSlice);
  assert.deepEqual(loweredIds(), canaryOrder(dry.planId!).slice(0, inSlice).sort((a, b) => a - b), 'a percentage canary is a prefix of the same order');
  assert.equal(cli('rollback', r.out[0]!.runId as string).status, 0);

  for (const bad of ['2.5', '0', '150%', 'ten']) {
    const x = cli('apply', dry.planId!, '--canary', bad);
    assert.equal(x.status, 2, `--canary ${bad}: ${x.text}`);
    assert.match(x.text, /is not a canary size: give a whole number of rows \(--canary 100\) or a percentage up to 100% \(--canary 5%\)/);
  }
  assert.deepEqual(loweredIds(), []);
});
