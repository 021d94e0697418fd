// The `redress` command line: a client of the workspace's daemon, which it starts when needed.
// Exit codes (docs/cli.md): 0 done; 1 the run ended but not cleanly (halted, failed, cancelled,
// verify found differences); 2 bad input (usage, config, compile, manifest, unknown plan or run);
// 3 the daemon is unavailable; 4 the ledger does not verify; 130 paused by Ctrl-C.
import { Command, InvalidArgumentError, Option } from 'commander';
import { existsSync, mkdirSync, readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { DaemonClient } from '../../shared/client';
import { CONFIG_FILE } from '../../shared/config';
import { coerceError, RedressError } from '../../shared/errors';
import { FINAL_STATUSES, type RunSummary } from '../../shared/protocol';
import { connectExisting, ensureDaemon, readDaemonInfo, startDaemon } from '../launch';
import { VERSION } from '../version';
import { printDiffs, printPreview, printRun, RunProgress } from './output';

const program = new Command();
program
  .name('redress')
  .description('Safe data corrections: preview, dry-run, apply, verify and roll back changes to production data.')
  .version(VERSION)
  .option('-w, --workspace <dir>', 'the workspace (folder with redress.config.json)', process.cwd())
  .option('--json', 'print one JSON object instead of text', false)
  .showHelpAfterError('(redress <command> --help lists its options)')
  // A usage error (unknown option, missing argument, an option value of the wrong kind) is bad input:
  // exit 2, not commander's 1; with --json it is one JSON object on stdout too, like every other error.
  // Subcommands inherit this; --help and --version still exit 0.
  .exitOverride((e) => {
    if (e.exitCode === 0) process.exit(0);
    // process.argv: --json may follow the command, and the error may come before it is parsed.
    if (process.argv.includes('--json')) process.stdout.write(JSON.stringify({ error: { code: 'CONFIG', message: e.message.replace(/^error: /, '') } }) + '\n');
    process.exit(2);
  });

const ws = () => resolve(program.opts<{ workspace: string }>().workspace);
const json = () => program.opts<{ json: boolean }>().json;
const out = (o: unknown): void => void process.stdout.write(JSON.stringify(o, null, json() ? 0 : 2) + "\n");
const collect = (v: string, prev: Record<string, string>) => {
  const i = v.indexOf('=');
  if (i < 1) throw new RedressError('CONFIG', `--param takes name=value, got "${v}"`);
  return { ...prev, [v.slice(0, i)]: v.slice(i + 1) };
};
// Option values, checked where they are typed: commander names the option in its message
// ("option '--pause-ms <ms>' argument 'abc' is invalid. …") and it is a usage error (exit 2).
const numberOf = (v: string) => (v.trim() === '' ? NaN : Number(v)); // Number('') is 0
const whole = (min: number, what: string, max = Number.MAX_SAFE_INTEGER) => (v: string) => {
  const n = numberOf(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`Give ${what}.`);
  return n;
};
const int = whole(1, 'a whole number, 1 or more');
const ms = whole(0, 'a whole number of milliseconds, 0 or more (at most 3600000, an hour)', 3_600_000);
const seed = whole(Number.MIN_SAFE_INTEGER, 'a whole number');
const count = whole(0, 'a whole number, 0 or more');
const seconds = (v: string) => {
  const n = numberOf(v);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('Give a number of seconds, 0 or more (1.5 is fine).');
  return n;
};

async function withDaemon<T>(fn: (c: DaemonClient) => Promise<T>): Promise<T> {
  const c = await ensureDaemon(ws());
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

/** Follows a run to its end with a progress bar; Ctrl-C pauses it (resumable). */
async function follow(c: DaemonClient, runId: string, label: string): Promise<RunSummary> {
  const first = await c.request('run', { runId });
  const bar = new RunProgress(label, first.totalRows, json());
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    bar.note(`pausing ${runId} at the next batch boundary (Ctrl-C again to leave it running)...`);
    c.request('pause', { runId }).catch(() => {});
  };
  process.on('SIGINT', onSigint);
  try {
    const final = await new Promise<RunSummary>((resolveRun, reject) => {
      let settled = false;
      const fail = (e: unknown) => {
        if (!settled) reject(e);
      };
      c.onClose = fail;
      // Every path ends in fail() or resolveRun(): nothing is left to reject unhandled after the end.
      const check = () =>
        c.request('run', { runId }).then((r) => {
          if (!settled && (FINAL_STATUSES.includes(r.status) || r.status === 'paused' || r.status === 'interrupted')) {
            settled = true;
            resolveRun(r);
          }
        }, fail);
      c.onEvent((e) => {
        if (e.runId !== runId || settled) return;
        if (e.kind === 'progress') bar.update(e.data as { counts: { scanned: number } });
        if (['completed', 'failed', 'halted', 'cancelled', 'paused', 'interrupted'].includes(e.kind)) void check();
      });
      c.request('subscribe', { runId, fromSeq: 0 }).then(check, fail);
    });
    bar.stop();
    return final;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/** What --json prints for a run: its id, status and counts. */
const runJson = (r: RunSummary) => ({ runId: r.id, kind: r.kind, status: r.status, planId: r.planId, ...r.counts, apply: r.apply, ...(r.concurrency !== null ? { concurrency: r.concurrency } : {}), message: r.message });

function finish(r: RunSummary, extra: Record<string, unknown> = {}): void {
  if (json()) out({ ...runJson(r), ...extra });
  else printRun(r);
  if (r.status === 'paused') process.exitCode = 130;
  else if (r.status !== 'completed') process.exitCode = 1;
  else if (r.kind === 'verify' && r.apply.drifted > 0) process.exitCode = 1;
}

program
  .command('init')
  .description('make this folder a Redress workspace: redress.config.json, corrections/, .redress/ ignored')
  .option('--sqlite <file>', 'the SQLite database to correct (path relative to the workspace)')
  .option('--postgres <url>', 'the PostgreSQL database to correct (postgres://user@host:5432/db)')
  .option('--schema <name>', 'with --postgres: the schema its tables are in (sets search_path)')
  .action((o: { sqlite?: string; postgres?: string; schema?: string }) => {
    const dir = ws();
    const cfg = join(dir, CONFIG_FILE);
    if (existsSync(cfg)) throw new RedressError('CONFIG', `${cfg} exists already; edit it instead.`);
    const target = initTarget(o);
    mkdirSync(join(dir, 'corrections'), { recursive: true });
    writeFileSync(cfg, JSON.stringify({ target, correctionsDir: 'corrections' }, null, 2) + '\n');
    const gi = join(dir, '.gitignore');
    if (!existsSync(gi) || !readFileSync(gi, 'utf8').includes('.redress/')) appendFileSync(gi, '.redress/\n');
    if (json()) out({ config: cfg });
    else process.stdout.write(`Wrote ${cfg}. Put corrections in ${join(dir, 'corrections')}/<name>.correction.ts.\n`);
  });

/** The target `init` writes: a SQLite file, or a PostgreSQL connection string with the schema as its search_path. */
function initTarget(o: { sqlite?: string; postgres?: string; schema?: string }): Record<string, string> {
  if ((o.sqlite === undefined) === (o.postgres === undefined)) {
    throw new RedressError('CONFIG', 'Say which database to correct: `redress init --sqlite <file>` or `redress init --postgres <url> [--schema <name>]`.');
  }
  if (o.sqlite !== undefined) {
    if (o.schema !== undefined) throw new RedressError('CONFIG', '--schema goes with --postgres; a SQLite file has no schemas to choose.');
    return { kind: 'sqlite', path: o.sqlite };
  }
  let u: URL;
  try {
    u = new URL(o.postgres!);
  } catch {
    throw new RedressError('CONFIG', `--postgres ${o.postgres} is not a connection URL. Give one like postgres://user@host:5432/database.`);
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new RedressError('CONFIG', `--postgres ${o.postgres} is a ${u.protocol} URL. Give a postgres:// one, like postgres://user@host:5432/database.`);
  }
  if (o.schema !== undefined && !/^[A-Za-z_][A-Za-z0-9_$]*$/.test(o.schema)) {
    throw new RedressError('CONFIG', `--schema ${o.schema} is not a plain schema name (letters, digits, _ and $). For another search_path, put it in the URL yourself: ?options=-c%20search_path%3D... (docs/postgres.md).`);
  }
  if (o.schema !== undefined) u.searchParams.set('options', `${u.searchParams.get('options') ?? ''} -c search_path=${o.schema}`.trim());
  if (u.password) {
    process.stderr.write('Note: the password is now in redress.config.json. To keep it out, leave it out of the URL and give it as PGPASSWORD or in ~/.pgpass where the daemon runs.\n');
  }
  return { kind: 'postgres', connectionString: u.toString() };
}

program
  .command('preview <correction>')
  .description('run the correction on a seeded sample of rows and show the before/after diff (writes nothing)')
  .option('-n, --sample <n>', 'rows in the sample', int)
  .option('--seed <n>', 'sample seed (same seed, same rows)', seed)
  .option('--show <n>', 'row diffs to print', int, 5)
  .option('-p, --param <name=value>', 'parameter for the transform (repeatable)', collect, {})
  .option('--snapshot <file>', 'sample a snapshot (redress snapshot) instead of the target')
  .action(async (file: string, o: { sample?: number; seed?: number; show: number; param: Record<string, string>; snapshot?: string }) => {
    await withDaemon(async (c) => {
      const r = await c.request('preview', {
        correction: resolve(file),
        params: o.param,
        ...(o.sample ? { sampleSize: o.sample } : {}),
        ...(o.seed !== undefined ? { seed: o.seed } : {}),
        ...(o.snapshot ? { snapshot: resolve(o.snapshot) } : {}),
      });
      if (json()) out({ correctionId: r.correctionId, sampleSize: r.sampleSize, ...r.summary, durationMs: Math.round(r.durationMs) });
      else printPreview(r, o.show);
    });
  });

const mask = (v: string, prev: { column: string; how: 'hash' | 'redact' }[]) => {
  const m = /^([^:]+):(hash|redact)$/.exec(v);
  if (!m) throw new RedressError('CONFIG', `--mask takes column:hash or column:redact, got "${v}"`);
  return [...prev, { column: m[1]!, how: m[2] as 'hash' | 'redact' }];
};

program
  .command('snapshot <table>')
  .description('copy a seeded sample of a PostgreSQL table into a local SQLite snapshot for previews (masking personal data)')
  .option('-n, --rows <n>', 'rows in the sample', int, 1000)
  .option('--seed <n>', 'sample seed (same seed, same rows)', seed, 1)
  .option('--stratify <column>', 'represent every value of this column, in proportion to its share')
  .option('--where <sql>', 'only rows matching this SQL condition')
  .option('--mask <column:hash|redact>', 'mask a column (repeatable): hash keeps equal values equal, redact empties it', mask, [])
  .option('-o, --output <file>', 'snapshot file (default .redress/snapshots/<table>.sqlite)')
  .action(async (table: string, o: { rows: number; seed: number; stratify?: string; where?: string; mask: { column: string; how: 'hash' | 'redact' }[]; output?: string }) => {
    await withDaemon(async (c) => {
      const r = await c.request('snapshot', {
        table,
        rows: o.rows,
        seed: o.seed,
        mask: o.mask,
        ...(o.stratify ? { stratifyBy: o.stratify } : {}),
        ...(o.where ? { where: o.where } : {}),
        ...(o.output ? { output: resolve(o.output) } : {}),
      });
      if (json()) out(r);
      else
        process.stdout.write(
          `Snapshot of ${r.table}: ${r.rows} of ${r.sourceRows} row(s) from ${r.source} in ${r.path}` +
            `${r.masked.length ? ` (masked ${r.masked.join(', ')})` : ''}.\nPreview on it: redress preview <correction> --snapshot ${r.path}\n`,
        );
    });
  });

program
  .command('dry-run <correction>')
  .description('run the correction over every selected row without writing; the result is a plan')
  .option('-b, --batch-size <n>', 'rows per batch', int)
  .option('-p, --param <name=value>', 'parameter for the transform (repeatable)', collect, {})
  .action(async (file: string, o: { batchSize?: number; param: Record<string, string> }) => {
    await withDaemon(async (c) => {
      const { runId } = await c.request('dryRun', { correction: resolve(file), params: o.param, ...(o.batchSize ? { batchSize: o.batchSize } : {}) });
      finish(await follow(c, runId, 'dry-run'));
    });
  });

program
  .command('apply <plan>')
  .description('apply a plan to the target: compare-and-set writes, before-images, checkpoints')
  .option('-b, --batch-size <n>', 'rows per batch (one transaction each)', int)
  .option('--canary <size>', 'apply a canary slice first: N rows (--canary 100) or P percent (--canary 5%), chosen by key hash', canarySize)
  .addOption(new Option('--after-canary <what>', 'verify the canary slice, then wait for a person or continue by itself when clean').choices(['wait', 'continue']))
  .option('--rest-of <run>', 'apply the rest of the plan after this completed canary run')
  .option('--pause-ms <ms>', 'pause after every batch (batches are then written one at a time)', ms)
  .option('--target-batch-ms <ms>', 'adapt the batch size so a batch takes about this long', int)
  .option('--min-batch-size <n>', 'smallest adaptive batch', int)
  .option('--max-batch-size <n>', 'largest adaptive batch', int)
  .option('--throttle-sql <sql>', 'wait while this query returns true in its first column')
  .option('--max-transaction-age <s>', 'wait while another transaction has been open longer than this', seconds)
  .option('--max-replication-lag <s>', 'wait while a replica lags more than this', seconds)
  .option('--concurrency <n>', 'batches written at once, each on its own connection (PostgreSQL: default 2, at most the pool size less one; SQLite: 1); not with --pause-ms', int)
  .action(
    async (
      planId: string,
      o: {
        batchSize?: number;
        canary?: { rows: number } | { percent: number };
        afterCanary?: 'wait' | 'continue';
        restOf?: string;
        pauseMs?: number;
        targetBatchMs?: number;
        minBatchSize?: number;
        maxBatchSize?: number;
        throttleSql?: string;
        maxTransactionAge?: number;
        maxReplicationLag?: number;
        concurrency?: number;
      },
    ) => {
      const throttle = {
        ...(o.pauseMs !== undefined ? { pauseMs: o.pauseMs } : {}),
        ...(o.targetBatchMs !== undefined ? { targetBatchMs: o.targetBatchMs } : {}),
        ...(o.minBatchSize !== undefined ? { minBatchSize: o.minBatchSize } : {}),
        ...(o.maxBatchSize !== undefined ? { maxBatchSize: o.maxBatchSize } : {}),
        ...(o.throttleSql !== undefined ? { healthQuery: o.throttleSql } : {}),
        ...(o.maxTransactionAge !== undefined ? { maxTransactionAgeS: o.maxTransactionAge } : {}),
        ...(o.maxReplicationLag !== undefined ? { maxReplicationLagS: o.maxReplicationLag } : {}),
      };
      await withDaemon(async (c) => {
        const { runId } = await c.request('apply', {
          planId,
          ...(o.batchSize ? { batchSize: o.batchSize } : {}),
          ...(o.canary ? ('rows' in o.canary ? { canaryRows: o.canary.rows } : { canaryPercent: o.canary.percent }) : {}),
          ...(o.afterCanary ? { afterCanary: o.afterCanary } : {}),
          ...(o.restOf ? { restOf: o.restOf } : {}),
          ...(Object.keys(throttle).length ? { throttle } : {}),
          ...(o.concurrency !== undefined ? { concurrency: o.concurrency } : {}),
        });
        const r = await follow(c, runId, 'apply');
        const rest = r.status === 'completed' && o.afterCanary === 'continue' ? await restRunOf(c, runId) : null;
        if (!rest) return finish(r);
        // --json prints one object: the run the command ended with (the rest), the canary inside it.
        if (!json()) printRun(r);
        finish(await follow(c, rest, 'apply (rest)'), { canary: runJson(r) });
      });
    },
  );

/** `--canary 100` is 100 rows, `--canary 5%` (or 0.5%) is a percentage. */
function canarySize(v: string): { rows: number } | { percent: number } {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(%?)\s*$/.exec(v);
  if (m && m[2] === '%' && Number(m[1]) <= 100) return { percent: Number(m[1]) };
  if (m && m[2] === '' && /^\d+$/.test(m[1]!) && Number(m[1]) >= 1) return { rows: Number(m[1]) };
  throw new RedressError('CONFIG', `"${v}" is not a canary size: give a whole number of rows (--canary 100) or a percentage up to 100% (--canary 5%).`);
}

/** The run a canary started for the rest of its plan (its completed event names it). */
async function restRunOf(c: DaemonClient, canaryRunId: string): Promise<string | null> {
  const r = await c.request('runs', { limit: 50 });
  return r.runs.find((x) => x.parentRunId === canaryRunId && x.kind === 'apply')?.id ?? null;
}

program
  .command('tune <run>')
  .description('change the batch size or the pause between batches of a running apply or rollback')
  .option('-b, --batch-size <n>', 'rows per batch from the next batch on', int)
  .option('--pause-ms <ms>', 'pause after every batch (batches are then written one at a time)', ms)
  .action(async (runId: string, o: { batchSize?: number; pauseMs?: number }) => {
    await withDaemon(async (c) => {
      await c.request('tune', { runId, ...(o.batchSize ? { batchSize: o.batchSize } : {}), ...(o.pauseMs !== undefined ? { pauseMs: o.pauseMs } : {}) });
      if (json()) out({ runId, ...o });
      else process.stdout.write(`Run ${runId} tuned; the next batch uses it.\n`);
    });
  });

for (const [name, method, what] of [
  ['rollback', 'rollback', 'restore the before-images of an apply run (compare-and-set: rows changed since are quarantined)'],
  ['verify', 'verify', 're-read the rows an apply or rollback run wrote and compare them with the state it meant to leave'],
  ['resume', 'resume', 'continue a paused or interrupted run from its last checkpoint'],
] as const) {
  program
    .command(`${name} <run>`)
    .description(what)
    .action(async (runId: string) => {
      await withDaemon(async (c) => {
        const r = await c.request(method, { runId });
        finish(await follow(c, r.runId, name));
      });
    });
}

for (const name of ['pause', 'cancel'] as const) {
  program
    .command(`${name} <run>`)
    .description(`${name} a running run at its next batch boundary`)
    .action(async (runId: string) => {
      await withDaemon(async (c) => {
        const r = await c.request(name, { runId });
        if (json()) out({ runId, status: r.status });
        else process.stdout.write(`${name} requested for ${runId}.\n`);
      });
    });
}

program
  .command('runs')
  .description('list runs, newest first')
  .option('-n, --limit <n>', 'how many', int, 20)
  .action(async (o: { limit: number }) => {
    await withDaemon(async (c) => {
      const { runs } = await c.request('runs', { limit: o.limit });
      if (json()) return out({ runs });
      if (!runs.length) return void process.stdout.write('No runs yet. Start with `redress preview corrections/<name>.correction.ts`.\n');
      const w = (f: (r: (typeof runs)[number]) => string) => Math.max(...runs.map((r) => f(r).length));
      const [id, kind, status, correction] = [w((r) => r.id), w((r) => r.kind), w((r) => r.status), w((r) => r.correctionId)];
      for (const r of runs) {
        process.stdout.write(`${r.id.padEnd(id)}  ${r.kind.padEnd(kind)}  ${r.status.padEnd(status)}  ${r.correctionId.padEnd(correction)}  ${r.planId ?? ''}  ${r.message ?? ''}\n`);
      }
    });
  });

program
  .command('status [run]')
  .description('the daemon, or one run')
  .action(async (runId?: string) => {
    await withDaemon(async (c) => {
      if (runId) return finish(await c.request('run', { runId }));
      const s = await c.request('status', {});
      if (json()) out(s);
      else process.stdout.write(`daemon pid ${s.pid} (v${s.version}), up ${Math.round(s.uptimeMs / 1000)}s, ${s.clients} client(s)\nworkspace ${s.workspace}\ntarget    ${s.target}\nledger    ${s.ledgerPath}\nactive    ${s.activeRuns.join(', ') || 'none'}\n`);
    });
  });

program
  .command('diffs <run>')
  .description("the planned row changes of a dry-run (or of an apply run's plan)")
  .addOption(new Option('--status <status>', 'only rows with this status').choices(['changed', 'skipped', 'quarantined']))
  .addOption(new Option('--outcome <outcome>', 'an apply or rollback run: only the rows it did not write, drifted (or gone) or already so').choices(['drifted', 'already']))
  .option('--column <name>', 'only rows that change this column')
  .option('-n, --limit <n>', 'rows', int, 20)
  .option('--offset <n>', 'skip this many', count, 0)
  .action(async (runId: string, o: { status?: 'changed' | 'skipped' | 'quarantined'; outcome?: 'drifted' | 'already'; column?: string; limit: number; offset: number }) => {
    await withDaemon(async (c) => {
      const r = await c.request('diffs', {
        runId,
        offset: o.offset,
        limit: o.limit,
        ...(o.status ? { status: o.status } : {}),
        ...(o.outcome ? { outcome: o.outcome } : {}),
        ...(o.column ? { column: o.column } : {}),
      });
      if (json()) out(r);
      else printDiffs(r, o.offset);
    });
  });

const ledger = program.command('ledger').description('the append-only ledger');
ledger
  .command('verify')
  .description('recompute the event chain and every plan hash; exit 4 if anything was edited')
  .action(async () => {
    await withDaemon(async (c) => {
      const r = await c.request('ledgerVerify', {});
      if (json()) out(r);
      else if (r.ok) process.stdout.write(`Ledger verified: ${r.events} events chained, ${r.plans} plan(s) hash to their content.\n`);
      else process.stdout.write(`LEDGER DOES NOT VERIFY:\n${r.problems.map((p) => `  - ${p}`).join('\n')}\n`);
      if (!r.ok) process.exitCode = 4;
    });
  });

const daemon = program.command('daemon').description('the background process that owns the ledger and runs');
daemon
  .command('start')
  .description('start the daemon for this workspace (commands start it when needed)')
  .option('--idle-ms <ms>', 'exit after this long with no client and no run', int)
  .action(async (o: { idleMs?: number }) => {
    const existing = await connectExisting(ws());
    if (existing) {
      existing.close();
      const info = readDaemonInfo(ws())!;
      return json() ? out({ pid: info.pid, port: info.port, already: true }) : void process.stdout.write(`Daemon already running (pid ${info.pid}).\n`);
    }
    const r = await startDaemon(ws(), o.idleMs ? { idleMs: o.idleMs } : {});
    if (json()) out(r);
    else process.stdout.write(`Daemon started (pid ${r.pid}, 127.0.0.1:${r.port}).\n`);
  });
daemon
  .command('stop')
  .description('stop the daemon (running runs pause at a batch boundary)')
  .action(async () => {
    const c = await connectExisting(ws());
    if (!c) return json() ? out({ running: false }) : void process.stdout.write('No daemon running.\n');
    const pid = readDaemonInfo(ws())!.pid;
    const closed = new Promise<void>((r) => (c.onClose = () => r()));
    await c.request('shutdown', {});
    await closed;
    if (json()) out({ stopped: pid });
    else process.stdout.write(`Daemon ${pid} stopped.\n`);
  });
daemon
  .command('status')
  .description('is a daemon running for this workspace?')
  .action(async () => {
    const c = await connectExisting(ws());
    if (!c) {
      if (json()) out({ running: false });
      else process.stdout.write('No daemon running for this workspace.\n');
      process.exitCode = 3;
      return;
    }
    const s = await c.request('status', {});
    c.close();
    if (json()) out({ running: true, ...s });
    else process.stdout.write(`Daemon running: pid ${s.pid}, up ${Math.round(s.uptimeMs / 1000)}s, target ${s.target}.\n`);
  });

const INPUT_ERRORS = new Set(['CONFIG', 'COMPILE', 'MANIFEST', 'NO_TABLE', 'NO_COLUMN', 'NO_UNIQUE_KEY', 'PLAN_NOT_FOUND', 'RUN_NOT_FOUND', 'RUN_STATE', 'BUSY', 'PLAN_STALE', 'PLAN_TAMPERED', 'SCHEMA_DRIFT', 'TARGET']);

// `redress diffs … | head`: a reader that stops early is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

program.parseAsync(process.argv).catch((e) => {
  const err = coerceError(e);
  if (json()) process.stdout.write(JSON.stringify({ error: err.toJSON() }) + '\n');
  else process.stderr.write(`redress: ${err.message}\n`);
  process.exitCode = err.code === 'DAEMON_UNAVAILABLE' ? 3 : err.code === 'LEDGER_TAMPERED' ? 4 : INPUT_ERRORS.has(err.code) ? 2 : 1;
});
