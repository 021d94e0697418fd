// The diff viewer's model, its webview messages and the review reports: pure code shared by the
// extension and the webview.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { RowDiff, Summary } from '../../shared/protocol';
import { FromWebview, MAX_WEBVIEW_MESSAGE_BYTES, parseFromWebview, SeqGate, ToWebview, type ViewInfo } from '../../extension/webview/messages';
import { chartBars, clampPage, daemonSource, formatValue, keyText, matches, memorySource, pageCount } from '../../extension/webview/model';
import { renderHtml, renderMarkdown } from '../../extension/webview/report';

/** n row diffs: every 7th quarantined, every 3rd skipped, the rest change `title` (and every 5th also `year`). */
function diffs(n: number): RowDiff[] {
  return Array.from({ length: n }, (_, i): RowDiff => {
    const key = { id: { $int: String(i + 1) } };
    if (i % 7 === 0) return { key, status: 'quarantined', changes: {}, reason: `row ${i + 1} has no title` };
    if (i % 3 === 0) return { key, status: 'skipped', changes: {}, reason: 'already fine' };
    return { key, status: 'changed', changes: { title: { before: `t${i}`, after: `T${i}` }, ...(i % 5 === 0 ? { year: { before: { $int: '2046' }, after: { $int: '1946' } } } : {}) } };
  });
}

const summary: Summary = { scanned: 10, changed: 3, unchanged: 5, skipped: 1, quarantined: 1, changesPerColumn: { title: 3, year: 1 } };
const view: ViewInfo = {
  kind: 'run',
  title: 'Dry-run: fix-titles',
  correctionId: 'fix-titles',
  runId: 'dry_1',
  runKind: 'dry-run',
  status: 'completed',
  sampleSize: null,
  totalRows: 10,
  summary,
  diffCount: 5,
  planId: 'plan_abc',
  contentHash: 'f00d',
  message: null,
  durationMs: null,
  target: 'sqlite:/db.sqlite',
};

test('a preview of 100,000 row diffs pages and filters in memory; filters combine', async () => {
  const all = diffs(100_000);
  const src = memorySource(all);
  const first = await src.page(0, 100, {});
  assert.equal(first.total, 100_000);
  assert.equal(first.rows.length, 100);
  const last = await src.page(99_950, 100, {});
  assert.equal(last.rows.length, 50);
  assert.deepEqual(last.rows.at(-1)!.key, { id: { $int: '100000' } });
  const quarantined = await src.page(0, 10, { status: 'quarantined' });
  assert.equal(quarantined.total, all.filter((d) => d.status === 'quarantined').length);
  const year = await src.page(0, 5, { column: 'year' });
  assert.ok(year.rows.every((r) => 'year' in r.changes));
  const both = await src.page(0, 5, { status: 'changed', column: 'year', text: '1946' });
  assert.equal(both.total, year.total);
  const byKey = await src.page(0, 5, { text: 'ID=99999' });
  assert.deepEqual(byKey.rows.map((r) => keyText(r.key)), ['id=99999']); // case-insensitive substring
  const byReason = await src.page(0, 5, { text: 'no title' });
  assert.equal(byReason.total, quarantined.total);
});

test('a run pages through the daemon: the filter becomes diffs parameters, nothing else is sent', async () => {
  const sent: unknown[] = [];
  const src = daemonSource(async (p) => (sent.push(p), { total: 100_000, rows: [] }), 'dry_1');
  await src.page(500, 100, {});
  await src.page(0, 100, { status: 'changed', column: 'title', text: 'x' });
  assert.deepEqual(sent, [
    { runId: 'dry_1', offset: 500, limit: 100 },
    { runId: 'dry_1', offset: 0, limit: 100, status: 'changed', column: 'title', text: 'x' },
  ]);
});

test('values read unambiguously: text quoted, NULL spelled out, tagged values shown as themselves', () => {
  assert.equal(formatValue('300'), '"300"');
  assert.equal(formatValue(300), '300');
  assert.equal(formatValue(null), 'NULL');
  assert.equal(formatValue(''), '""');
  assert.equal(formatValue({ $int: '9007199254740993' }), '9007199254740993');
  assert.equal(formatValue({ $real: '-0' }), '-0');
  assert.equal(formatValue({ $json: '{"b":1,"a":2}' }), '{"b":1,"a":2}');
  assert.equal(formatValue({ $text: '12.50', $type: 'numeric' }), '12.50::numeric');
  assert.match(formatValue({ $bytes: 'AAEC' }), /^bytes\(AAEC\)$/);
  assert.equal(keyText({ a: 1, b: 'x' }), 'a=1, b="x"');
});

test('the chart: columns by changes, largest first, widths relative to the largest', () => {
  assert.deepEqual(chartBars({ a: 5, b: 10, c: 0, d: 10 }), [
    { column: 'b', count: 10, width: 100 },
    { column: 'd', count: 10, width: 100 },
    { column: 'a', count: 5, width: 50 },
  ]);
  assert.deepEqual(chartBars({}), []);
});

test('pages: count and clamping', () => {
  assert.equal(pageCount(0, 100), 1);
  assert.equal(pageCount(100_000, 100), 1000);
  assert.equal(clampPage(-1, 1000, 100), 0);
  assert.equal(clampPage(10, 1000, 100), 9);
  assert.ok(matches(diffs(2)[1]!, {}));
});

test('webview messages are parsed: unknown types, extra keys, bad numbers and oversized messages are refused', () => {
  assert.equal(parseFromWebview({ type: 'ready', seq: 1 }).ok, true);
  assert.equal(parseFromWebview({ type: 'page', seq: 2, offset: 0, limit: 100, filter: { status: 'changed' } }).ok, true);
  const bad = [
    { type: 'eval', seq: 3, code: 'x' },
    { type: 'ready', seq: 1, extra: true },
    { type: 'page', seq: 2, offset: -1, limit: 100, filter: {} },
    { type: 'page', seq: 2, offset: 0, limit: 1_000_000, filter: {} },
    { type: 'page', seq: 2, offset: 0, limit: 10, filter: { status: 'exploded' } },
    { type: 'page', seq: 2, offset: 0, limit: 10, filter: { text: 'x'.repeat(201) } },
    { type: 'export', seq: 4, format: 'pdf' },
    'ready',
    null,
  ];
  for (const m of bad) assert.equal(parseFromWebview(m).ok, false, JSON.stringify(m));
  const huge = parseFromWebview({ type: 'ready', seq: 1, pad: 'x'.repeat(MAX_WEBVIEW_MESSAGE_BYTES) });
  assert.equal(huge.ok, false);
  assert.match((huge as { why: string }).why, /bytes, more than/);
  assert.equal(FromWebview.safeParse({ type: 'rendered', seq: 5, re: 2, rows: 100, total: 3201 }).success, true);
  assert.equal(ToWebview.safeParse({ type: 'init', seq: 1, view }).success, true);
  assert.equal(ToWebview.safeParse({ type: 'page', seq: 2, re: 1, offset: 0, total: 1, rows: [{ key: {}, status: 'nope', changes: {} }] }).success, false);
});

test('sequence numbers: each accepted once, in increasing order', () => {
  const g = new SeqGate();
  assert.equal(g.accept(1), true);
  assert.equal(g.accept(1), false);
  assert.equal(g.accept(0), false);
  assert.equal(g.accept(5), true);
  assert.equal(g.accept(3), false);
});

test('a reloaded webview numbers from 1 again: its `ready` starts a new session instead of being dropped', () => {
  const g = new SeqGate();
  const first = [{ type: 'ready', seq: 1 }, { type: 'page', seq: 2 }, { type: 'page', seq: 3 }, { type: 'rendered', seq: 4 }] as const;
  for (const m of first) assert.equal(g.admit(m), true, JSON.stringify(m));
  assert.equal(g.admit({ type: 'page', seq: 3 }), false, 'a replayed page is still dropped');
  // The webview is reloaded: a fresh script, seq restarts at 1.
  assert.equal(g.admit({ type: 'ready', seq: 1 }), true, 'the new session says ready');
  assert.equal(g.admit({ type: 'page', seq: 2 }), true, 'and its page requests are served');
  assert.equal(g.admit({ type: 'page', seq: 2 }), false, 'replays within the new session are dropped');
  assert.equal(g.admit({ type: 'export', seq: 1 }), false, 'only ready starts a session');
});

test('the diff viewer uses no inline style attribute and no eval (its CSP, nonces only, blocks them)', () => {
  const root = join(__dirname, '..', '..', 'extension', 'webview');
  const panel = readFileSync(join(root, 'panel.ts'), 'utf8');
  const main = readFileSync(join(root, 'main.ts'), 'utf8');
  assert.match(panel, /style-src 'nonce-\$\{nonce\}'/);
  assert.ok(!/<[a-z][^<>]*\sstyle=/i.test(panel), 'an element in the panel HTML has a style attribute');
  assert.ok(!/setAttribute\(\s*'style'|\{\s*style:|'style':/.test(main), 'main.ts sets a style attribute');
  // Nor eval: zod's JIT is switched off before the first schema is built (its probe alone is reported).
  assert.match(main, /^import '\.\/jitless';/m);
  assert.ok(main.indexOf("import './jitless'") < main.indexOf('import '.concat("{")), 'jitless is imported first');
});

const reportRows: RowDiff[] = [
  { key: { id: 1 }, status: 'changed', changes: { title: { before: 'a|b', after: '<script>alert(1)</script>' } } },
  { key: { id: 2 }, status: 'quarantined', changes: {}, reason: 'no\ntitle & "more"' },
];

test('Markdown report: summary, chart table, rows with before → after; cells cannot break the table', () => {
  const md = renderMarkdown({ view, rows: reportRows, generatedAt: '2026-01-01T00:00:00Z', correctionPath: 'corrections/fix-titles.correction.ts' });
  assert.match(md, /^# Redress review: dry-run dry_1 of fix-titles$/m);
  assert.match(md, /- \*\*Plan content hash:\*\* `f00d`/);
  assert.match(md, /\| 10 \| 3 \| 5 \| 1 \| 1 \|/);
  assert.match(md, /\| title \| 3 \|/);
  assert.match(md, /\| id=1 \| changed \| title: "a\\\|b" → "<script>alert\(1\)<\/script>" \|  \|/);
  assert.match(md, /\| id=2 \| quarantined \|  \| no title & "more" \|/);
  assert.match(md, /Showing the first 2 of 5 rows/);
});

test('HTML report: self-contained (no script, no external resource) and everything escaped', () => {
  const html = renderHtml({ view, rows: reportRows, generatedAt: '2026-01-01T00:00:00Z', correctionPath: null });
  assert.ok(!/<script/i.test(html.replace(/&lt;script/g, '')), 'no script element');
  assert.ok(!/(src|href)=/i.test(html), 'no external resource');
  assert.match(html, /Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'"/);
  assert.match(html, /<ins>&quot;&lt;script&gt;alert\(1\)&lt;\/script&gt;&quot;<\/ins>/);
  assert.match(html, /<td>no\ntitle &amp; &quot;more&quot;<\/td>/);
  assert.match(html, /<b>10<\/b>scanned/);
});
