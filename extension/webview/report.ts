// The review report a reviewer attaches to a pull request: Markdown, or one self-contained HTML file
// (inline styles, no scripts, no external resources). Pure.
import type { RowDiff } from '../../shared/protocol';
import type { ViewInfo } from './messages';
import { chartBars, COUNT_NAMES, formatValue, keyText } from './model';

export interface ReportData {
  view: ViewInfo;
  /** The row diffs included (the first `rows.length` of `diffCount`). */
  rows: RowDiff[];
  generatedAt: string;
  correctionPath: string | null;
}

const mdCell = (s: string) => s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

function heading(v: ViewInfo): string {
  return v.kind === 'preview' ? `Preview of ${v.correctionId}` : `${v.runKind ?? 'Run'} ${v.runId} of ${v.correctionId}`;
}

function facts(v: ViewInfo, d: ReportData): [string, string][] {
  const f: [string, string][] = [['Correction', v.correctionId]];
  if (d.correctionPath) f.push(['File', d.correctionPath]);
  if (v.target) f.push(['Target', v.target]);
  if (v.runId) f.push(['Run', `${v.runId} (${v.runKind ?? ''}, ${v.status ?? ''})`]);
  if (v.kind === 'preview' && v.sampleSize !== null) f.push(['Sample', `${v.sampleSize.toLocaleString('en-US')} rows`]);
  if (v.planId) f.push(['Plan', v.planId]);
  if (v.contentHash) f.push(['Plan content hash', v.contentHash]);
  if (v.message) f.push(['Result', v.message]);
  f.push(['Generated', d.generatedAt]);
  return f;
}

function changeList(r: RowDiff): string[] {
  return Object.entries(r.changes).map(([c, v]) => `${c}: ${formatValue(v.before)} → ${formatValue(v.after)}`);
}

export function renderMarkdown(d: ReportData): string {
  const v = d.view;
  const out: string[] = [`# Redress review: ${heading(v)}`, ''];
  for (const [k, val] of facts(v, d)) out.push(`- **${k}:** ${k === 'Plan content hash' || k === 'Plan' ? `\`${val}\`` : mdCell(val)}`);
  out.push('', '## Summary', '', '| ' + COUNT_NAMES.join(' | ') + ' |', '|' + COUNT_NAMES.map(() => '---:').join('|') + '|', '| ' + COUNT_NAMES.map((k) => v.summary[k].toLocaleString('en-US')).join(' | ') + ' |', '');
  const bars = chartBars(v.summary.changesPerColumn);
  if (bars.length) {
    out.push('### Changes per column', '', '| column | rows changed |', '|---|---:|');
    for (const b of bars) out.push(`| ${mdCell(b.column)} | ${b.count.toLocaleString('en-US')} |`);
    out.push('');
  }
  out.push('## Row diffs', '');
  if (d.rows.length < v.diffCount) out.push(`Showing the first ${d.rows.length.toLocaleString('en-US')} of ${v.diffCount.toLocaleString('en-US')} rows that are not unchanged.`, '');
  if (d.rows.length === 0) out.push('No row would change.');
  else {
    out.push('| key | status | changes (before → after) | reason |', '|---|---|---|---|');
    for (const r of d.rows) out.push(`| ${mdCell(keyText(r.key))} | ${r.status} | ${mdCell(changeList(r).join('; '))} | ${mdCell(r.reason ?? '')} |`);
  }
  out.push('');
  return out.join('\n');
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

export function renderHtml(d: ReportData): string {
  const v = d.view;
  const bars = chartBars(v.summary.changesPerColumn);
  const rows = d.rows
    .map(
      (r) =>
        `<tr class="${r.status}"><td class="key">${esc(keyText(r.key))}</td><td>${r.status}</td><td>${Object.entries(r.changes)
          .map(([c, x]) => `<div><span class="col">${esc(c)}</span> <del>${esc(formatValue(x.before))}</del> → <ins>${esc(formatValue(x.after))}</ins></div>`)
          .join('')}</td><td>${esc(r.reason ?? '')}</td></tr>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Redress review: ${esc(heading(v))}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1f2328;background:#fff}
h1{font-size:1.4rem}h2{font-size:1.15rem;margin-top:1.6rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{font-weight:600}dd{margin:0;font-family:ui-monospace,monospace}
.counts{display:flex;gap:1rem;flex-wrap:wrap}.count{border:1px solid #d0d7de;border-radius:6px;padding:.4rem .8rem}.count b{display:block;font-size:1.3rem}
.bar{display:flex;align-items:center;gap:.5rem;margin:.15rem 0}.bar span.name{width:14rem;font-family:ui-monospace,monospace}.bar i{display:inline-block;height:.8rem;background:#0969da;border-radius:2px}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}
td.key,.col{font-family:ui-monospace,monospace}del{background:#ffebe9;text-decoration:line-through}ins{background:#dafbe1;text-decoration:none}
tr.quarantined td{background:#fff8c5}
</style></head><body>
<h1>Redress review: ${esc(heading(v))}</h1>
<dl>${facts(v, d)
    .map(([k, val]) => `<dt>${esc(k)}</dt><dd>${esc(val)}</dd>`)
    .join('')}</dl>
<h2>Summary</h2>
<div class="counts">${COUNT_NAMES.map((k) => `<div class="count"><b>${v.summary[k].toLocaleString('en-US')}</b>${k}</div>`).join('')}</div>
${bars.length ? `<h2>Changes per column</h2>${bars.map((b) => `<div class="bar"><span class="name">${esc(b.column)}</span><i style="width:${Math.max(1, b.width) * 3}px"></i> ${b.count.toLocaleString('en-US')}</div>`).join('')}` : ''}
<h2>Row diffs</h2>
${d.rows.length < v.diffCount ? `<p>Showing the first ${d.rows.length.toLocaleString('en-US')} of ${v.diffCount.toLocaleString('en-US')} rows that are not unchanged.</p>` : ''}
${d.rows.length ? `<table><thead><tr><th>key</th><th>status</th><th>changes (before → after)</th><th>reason</th></tr></thead><tbody>\n${rows}\n</tbody></table>` : '<p>No row would change.</p>'}
</body></html>
`;
}
