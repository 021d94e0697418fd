// The diff viewer's model, shared by the extension (paging, reports) and the webview (display):
// where pages of row diffs come from, how values and keys read, the changes-per-column chart.
// Pure: no vscode, no DOM, no Node built-ins (it is bundled into the webview too).
import type { RowDiff, Summary } from '../../shared/protocol';
import type { WireValue } from '../../shared/values';
import type { Filter } from './messages';

export interface Page {
  total: number;
  rows: RowDiff[];
}

/** Pages of row diffs, filtered: a preview's diffs held in memory, or a run's diffs in the daemon. */
export interface DiffSource {
  page(offset: number, limit: number, filter: Filter): Promise<Page>;
}

/** A preview's diffs (already in the extension): filtered and paged here. */
export function memorySource(diffs: readonly RowDiff[]): DiffSource {
  let lastKey = '';
  let lastMatch: readonly RowDiff[] = diffs;
  return {
    async page(offset, limit, filter) {
      const key = JSON.stringify(filter);
      if (key !== lastKey) {
        lastMatch = diffs.filter((d) => matches(d, filter));
        lastKey = key;
      }
      return { total: lastMatch.length, rows: lastMatch.slice(offset, offset + limit) };
    },
  };
}

type DiffsRequest = (p: { runId: string; offset: number; limit: number; status?: RowDiff['status']; column?: string; text?: string }) => Promise<Page>;

/** A run's diffs, paged by the daemon's `diffs` method (100,000 rows never cross at once). */
export function daemonSource(request: DiffsRequest, runId: string): DiffSource {
  return {
    page: (offset, limit, f) => request({ runId, offset, limit, ...(f.status ? { status: f.status } : {}), ...(f.column ? { column: f.column } : {}), ...(f.text ? { text: f.text } : {}) }),
  };
}

export function matches(d: RowDiff, f: Filter): boolean {
  if (f.status && d.status !== f.status) return false;
  if (f.column && !(f.column in d.changes)) return false;
  if (f.text) {
    const needle = f.text.toLowerCase();
    const hay = [keyText(d.key), d.reason ?? '', ...Object.entries(d.changes).flatMap(([c, v]) => [c, formatValue(v.before), formatValue(v.after)])].join('\u0000').toLowerCase();
    if (!hay.includes(needle)) return false;
  }
  return true;
}

/** A value as a person reads it: strings quoted (so "300" and 300 differ), NULL spelled out. */
export function formatValue(v: WireValue | undefined): string {
  if (v === undefined) return '';
  if (v === null) return 'NULL';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if ('$int' in v) return v.$int;
  if ('$real' in v) return v.$real;
  if ('$bytes' in v) return `bytes(${v.$bytes.length > 24 ? `${v.$bytes.slice(0, 24)}…` : v.$bytes})`;
  if ('$json' in v) return v.$json;
  return `${v.$text}::${v.$type}`;
}

/** `id=12` or `a=1, b="x"`. */
export function keyText(key: Record<string, WireValue>): string {
  return Object.entries(key)
    .map(([k, v]) => `${k}=${formatValue(v)}`)
    .join(', ');
}

export interface Bar {
  column: string;
  count: number;
  /** Share of the largest bar, 0..100, for the bar's width. */
  width: number;
}

/** Changes per column, largest first. */
export function chartBars(changesPerColumn: Record<string, number>): Bar[] {
  const entries = Object.entries(changesPerColumn).filter(([, n]) => n > 0);
  const max = Math.max(1, ...entries.map(([, n]) => n));
  return entries.sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([column, count]) => ({ column, count, width: Math.round((count / max) * 100) }));
}

export const COUNT_NAMES = ['scanned', 'changed', 'unchanged', 'skipped', 'quarantined'] as const;

export function countsLine(s: Summary): string {
  return COUNT_NAMES.map((k) => `${s[k].toLocaleString('en-US')} ${k}`).join(' · ');
}

export function pageCount(total: number, pageSize: number): number {
  return Math.max(1, Math.ceil(total / pageSize));
}

/** Clamps a requested page to the pages that exist. */
export function clampPage(page: number, total: number, pageSize: number): number {
  return Math.min(Math.max(0, page), pageCount(total, pageSize) - 1);
}
