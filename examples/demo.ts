// The main job: real data (vega-datasets movies, 3,201 films) in an embedded SQLite "production"
// database, and three corrections of real problems in it, each taken through the whole loop with the
// real `redress` CLI: preview, dry-run (the plan), apply, verify, rollback, verify again.
//
//   npm run demo            (exits non-zero if any count differs from the README's)
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { loadMovies } from './load-movies';

const WORKSPACE = resolve(__dirname, 'movies');
const CLI = resolve(__dirname, '..', 'dist', 'cli.js');

/** What each correction must find in the real data (also stated in the README). */
export const EXPECTED = {
  'fix-release-century': { scanned: 3201, changed: 22, unchanged: 0, skipped: 3179, quarantined: 0 },
  'numeric-titles': { scanned: 10, changed: 9, unchanged: 0, skipped: 0, quarantined: 1 },
  'release-date-iso': { scanned: 3201, changed: 3201, unchanged: 0, skipped: 0, quarantined: 0 },
} as const;

type Counts = { scanned: number; changed: number; unchanged: number; skipped: number; quarantined: number };
interface JsonRun extends Counts {
  runId: string;
  status: string;
  planId: string | null;
  apply: { applied: number; alreadyApplied: number; drifted: number };
  message: string;
}

const say = (s: string) => process.stdout.write(s + '\n');
const rule = (title: string) => say(`\n${'='.repeat(8)} ${title} ${'='.repeat(Math.max(0, 70 - title.length))}`);

/** Runs the real CLI in the example workspace; shows what a person would see. */
function redress(args: string[], opts: { json?: boolean } = {}): string {
  say(`\n$ redress ${args.join(' ')}`);
  const r = spawnSync(process.execPath, [CLI, '--workspace', WORKSPACE, ...(opts.json ? ['--json'] : []), ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (!opts.json) process.stdout.write(r.stdout);
  if (r.status !== 0) throw new Error(`redress ${args.join(' ')} exited ${r.status}: ${r.stdout}`);
  return r.stdout;
}

/** Same, but also fetch the run's JSON summary for checking counts. */
function runStatus(runId: string): JsonRun {
  return JSON.parse(spawnSync(process.execPath, [CLI, '--workspace', WORKSPACE, '--json', 'status', runId], { encoding: 'utf8' }).stdout) as JsonRun;
}

function lastRunId(): string {
  const out = spawnSync(process.execPath, [CLI, '--workspace', WORKSPACE, '--json', 'runs', '--limit', '1'], { encoding: 'utf8' }).stdout;
  return (JSON.parse(out) as { runs: { id: string }[] }).runs[0]!.id;
}

function check(what: string, got: object, want: Record<string, number>): void {
  const bad = Object.entries(want).filter(([k, v]) => (got as Record<string, unknown>)[k] !== v);
  if (bad.length) throw new Error(`${what}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
}

export function main(): Record<string, { dryRun: JsonRun; apply: JsonRun; rollback: JsonRun }> {
  rule('Setting up');
  if (existsSync(join(WORKSPACE, '.redress', 'daemon.json'))) spawnSync(process.execPath, [CLI, '--workspace', WORKSPACE, 'daemon', 'stop'], { stdio: 'ignore' });
  rmSync(join(WORKSPACE, '.redress'), { recursive: true, force: true });
  const db = join(WORKSPACE, 'data', 'production.sqlite');
  const n = loadMovies(db);
  say(`Loaded ${n} films from vega-datasets (data/movies.json) into ${relative(process.cwd(), db)}, table "movies".`);

  const results: ReturnType<typeof main> = {};
  for (const id of Object.keys(EXPECTED) as (keyof typeof EXPECTED)[]) {
    const file = join('corrections', `${id}.correction.ts`);
    const abs = join(WORKSPACE, file);
    rule(`Correction ${id}`);

    // Preview: a seeded sample, field-level diffs. (The sample is the whole small selection here.)
    redress(['preview', abs, '--sample', '1000', '--seed', '7', '--show', '3']);

    redress(['dry-run', abs, '--batch-size', '250']);
    const dry = runStatus(lastRunId());
    check(`${id} dry-run`, dry, EXPECTED[id]);

    redress(['diffs', dry.runId, '--status', 'changed', '--limit', '2']);

    redress(['apply', dry.planId!, '--batch-size', '250']);
    const apply = runStatus(lastRunId());
    check(`${id} apply`, apply.apply, { applied: EXPECTED[id].changed, alreadyApplied: 0, drifted: 0 });

    redress(['verify', apply.runId]);
    check(`${id} verify`, runStatus(lastRunId()).apply, { applied: EXPECTED[id].changed, drifted: 0 });

    redress(['rollback', apply.runId]);
    const rollback = runStatus(lastRunId());
    check(`${id} rollback`, rollback.apply, { applied: EXPECTED[id].changed, alreadyApplied: 0, drifted: 0 });

    redress(['verify', rollback.runId]);
    check(`${id} verify after rollback`, runStatus(lastRunId()).apply, { applied: EXPECTED[id].changed, drifted: 0 });
    results[id] = { dryRun: dry, apply, rollback };
  }

  rule('The ledger');
  redress(['ledger', 'verify']);
  redress(['runs', '--limit', '6']);
  say(`
Every run above is recorded in the append-only, hash-chained ledger:
  ${join(WORKSPACE, '.redress', 'ledger.sqlite')}
Inspect it with:
  node dist/cli.js -w examples/movies runs                 # runs, newest first
  node dist/cli.js -w examples/movies diffs <dry-run id>   # the planned row changes
  node dist/cli.js -w examples/movies ledger verify        # recompute the event chain and plan hashes
  sqlite3 ${relative(process.cwd(), join(WORKSPACE, '.redress', 'ledger.sqlite'))} "SELECT seq, kind, run_id, at FROM events"
The database is back as loaded: every correction was rolled back (verified).`);
  spawnSync(process.execPath, [CLI, '--workspace', WORKSPACE, 'daemon', 'stop'], { stdio: 'ignore' });
  return results;
}

if (require.main === module) {
  try {
    main();
  } catch (e) {
    process.stderr.write(`\ndemo failed: ${(e as Error).message}\n`);
    process.exit(1);
  }
}
