// How the CLI shows previews, runs and progress to a person.
import { SingleBar, Presets } from 'cli-progress';
import type { Result, RunSummary, RowDiff } from '../../shared/protocol';
import { display, fromWire, type WireValue } from '../../shared/values';

const show = (w: WireValue) => display(fromWire(w));

export function formatKey(d: RowDiff): string {
  return Object.entries(d.key)
    .map(([k, v]) => `${k}=${show(v)}`)
    .join(', ');
}

function printDiff(d: RowDiff): void {
  if (d.status !== 'changed') return void process.stdout.write(`  ${d.status} [${formatKey(d)}]${d.reason ? `: ${d.reason}` : ''}\n`);
  process.stdout.write(`  [${formatKey(d)}]\n`);
  for (const [col, ch] of Object.entries(d.changes)) process.stdout.write(`      ${col}: ${show(ch.before)} -> ${show(ch.after)}\n`);
}

export function printDiffs(r: Result<'diffs'>, offset: number): void {
  process.stdout.write(`Rows ${r.rows.length ? offset + 1 : 0}-${offset + r.rows.length} of ${r.total}:\n`);
  r.rows.forEach(printDiff);
}

export function printPreview(r: Result<'preview'>, n: number): void {
  const s = r.summary;
  const w = (t: string) => process.stdout.write(t + '\n');
  w(`Preview of ${r.correctionId} on a sample of ${r.sampleSize} rows (${Math.round(r.durationMs)} ms):`);
  w(`  scanned ${s.scanned}  changed ${s.changed}  unchanged ${s.unchanged}  skipped ${s.skipped}  quarantined ${s.quarantined}`);
  const cols = Object.entries(s.changesPerColumn);
  if (cols.length) w(`  changes per column: ${cols.map(([c, k]) => `${c} ${k}`).join(', ')}`);
  r.diffs.filter((x) => x.status === 'changed').slice(0, n).forEach(printDiff);
  r.diffs.filter((x) => x.status === 'quarantined').slice(0, n).forEach(printDiff);
}

export function printRun(r: RunSummary): void {
  const c = r.counts;
  const lines = [`${r.kind} ${r.id}: ${r.status}${r.message ? ` — ${r.message}` : ''}`];
  if (r.kind === 'dry-run') lines.push(`  scanned ${c.scanned}  changed ${c.changed}  unchanged ${c.unchanged}  skipped ${c.skipped}  quarantined ${c.quarantined}`);
  else if (r.kind === 'verify') lines.push(`  checked ${c.scanned}  matching ${r.apply.applied}  differing ${r.apply.drifted}`);
  else lines.push(`  rows ${c.scanned}  written ${r.apply.applied}  already so ${r.apply.alreadyApplied}  drifted ${r.apply.drifted}  (${r.concurrency ?? 1} batch${r.concurrency === 1 ? '' : 'es'} at once)`);
  if (r.planId && r.kind === 'dry-run' && r.status === 'completed') lines.push(`  plan ${r.planId}: review with \`redress diffs ${r.id}\`, apply with \`redress apply ${r.planId}\``);
  if (r.status === 'paused' || r.status === 'interrupted') lines.push(`  resume with \`redress resume ${r.id}\``);
  if (r.status === 'halted') lines.push(`  once the cause above is dealt with, resume with \`redress resume ${r.id}\`${r.kind === 'rollback' ? '' : ' (or start a new run)'}`);
  if ((r.kind === 'apply' || r.kind === 'rollback') && r.apply.drifted > 0) lines.push(`  the drifted rows, not written: \`redress diffs ${r.id} --outcome drifted\``);
  if (r.kind === 'apply' && r.status === 'completed') lines.push(`  verify with \`redress verify ${r.id}\`, undo with \`redress rollback ${r.id}\``);
  if (r.kind === 'rollback' && r.status === 'completed') lines.push(`  check that every row is back with \`redress verify ${r.id}\``);
  process.stdout.write(lines.join('\n') + '\n');
}

/** A progress bar on a terminal; a line per tenth of the way elsewhere (CI logs, pipes). */
export class RunProgress {
  private bar: SingleBar | null = null;
  private lastTenth = -1;

  constructor(
    private readonly label: string,
    private readonly total: number | null,
    private readonly quiet: boolean,
  ) {
    if (!quiet && process.stderr.isTTY && total) {
      this.bar = new SingleBar({ format: `${label} [{bar}] {percentage}% | {value}/{total} rows | {eta_formatted} left`, stream: process.stderr, hideCursor: true }, Presets.shades_classic);
      this.bar.start(total, 0);
    }
  }

  update(data: { counts: { scanned: number } }): void {
    const done = data.counts.scanned;
    if (this.bar) return this.bar.update(done);
    if (this.quiet || !this.total) return;
    const tenth = Math.floor((done / this.total) * 10);
    if (tenth > this.lastTenth) {
      this.lastTenth = tenth;
      process.stderr.write(`${this.label}: ${done}/${this.total} rows (${Math.round((done / this.total) * 100)}%)\n`);
    }
  }

  note(msg: string): void {
    process.stderr.write(`\n${msg}\n`);
  }

  stop(): void {
    this.bar?.stop();
  }
}
