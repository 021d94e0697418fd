// The UI test, in Chromium, as a person uses the editor: the packaged .vsix installed into a fresh
// code-server, the movies workspace opened, commands run from the palette, the diff viewer read from
// its webview, Dry-run followed to its end, a long run cancelled from its notification (and seen
// stopped in the daemon). Screenshots go to .cache/vscode-e2e/artifacts/redress-ui/.
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Frame, FrameLocator, Page } from 'playwright-core';
import { DaemonClient } from '../../../shared/client';
import { FINAL_STATUSES, type RunSummary } from '../../../shared/protocol';
import { readDaemonInfo } from '../../../extension/daemon';
import { launchBrowser } from '../browser';
import { installExtension, makeRunDirs, startCodeServer } from '../codeServer';
import { vsixEntries } from '../packageVsix';
import { artifactsDir, cacheDir, repoRoot } from '../paths';
import { openWorkbench, runFromPalette } from '../workbench';
import { moviesWorkspace } from './workspace';

const OUT = join(artifactsDir, 'redress-ui');
const LONG_ROWS = 200_000;

function check(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Error(what);
}

/** Adds a table big enough that a dry-run in batches of 50 takes a while, and a correction over it. */
function addLongRun(ws: string): void {
  const db = new Database(join(ws, 'data', 'production.sqlite'));
  db.exec(`CREATE TABLE events (id INTEGER PRIMARY KEY, kind TEXT);
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${LONG_ROWS})
    INSERT INTO events SELECT i, CASE i % 3 WHEN 0 THEN 'click' WHEN 1 THEN 'View' ELSE 'SCROLL' END FROM n;`);
  db.close();
  writeFileSync(
    join(ws, 'corrections', 'upper-event-kinds.correction.ts'),
    `import { defineCorrection } from 'redress';

export default defineCorrection<{ id: number; kind: string | null }>({
  id: 'upper-event-kinds',
  description: 'Upper-case event kinds (200,000 rows in batches of 50: a run long enough to cancel).',
  target: { table: 'events', key: 'id' },
  expects: { kind: 'text' },
  transform: (row) => ({ kind: row.kind?.toUpperCase() ?? null }),
  options: { batchSize: 50 },
});
`,
  );
}

/**
 * A correction that changes two columns by very different counts (release_date on the 22 rows dated a
 * century late, title on every 10th film), so the chart's bars must differ in width.
 */
function addTwoColumnCorrection(ws: string): void {
  writeFileSync(
    join(ws, 'corrections', 'chart-two-columns.correction.ts'),
    `import { defineCorrection } from 'redress';

export default defineCorrection<{ id: number; title: unknown; release_date: string | null }>({
  id: 'chart-two-columns',
  description: 'UI test: release_date on the 22 century-late rows, title on every 10th film.',
  target: { table: 'movies', key: 'id' },
  expects: { release_date: 'text', title: 'any' },
  transform(row) {
    const out: { title?: string; release_date?: string } = {};
    if (row.id % 10 === 0 && row.title !== null) out.title = String(row.title) + ' (checked)';
    const m = /^(.{7})(\\d{4})$/.exec(row.release_date ?? '');
    if (m && Number(m[2]) > 2011) out.release_date = m[1] + String(Number(m[2]) - 100);
    return out;
  },
});
`,
  );
}

/** Files a .vsix must not carry: tests, CI and packaging leftovers, changelogs, declarations, maps. */
const VSIX_JUNK = /(^|\/)(tests?|__tests__|patches)\/|\.travis\.yml$|\.npmignore$|History\.md$|CHANGELOG|\.d\.ts$|\.map$|download\.sh$/i;

async function openFile(page: Page, name: string): Promise<void> {
  await page.locator('.monaco-workbench').click({ position: { x: 640, y: 300 } });
  await page.keyboard.press('Control+P');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: 10_000 });
  await input.fill(name);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: name }).first().waitFor({ state: 'visible', timeout: 15_000 });
  await page.keyboard.press('Enter');
  await page.locator('.tab.active', { hasText: name }).waitFor({ state: 'visible', timeout: 15_000 });
}

/**
 * A notification with `text`, toast or not: the workbench here does not always raise a toast (e.g.
 * while focus is in a webview), so look where every notification goes, the notification center.
 */
async function notification(page: Page, text: string, timeoutMs: number) {
  const center = page.locator('.notifications-center');
  if (!(await center.isVisible())) await runFromPalette(page, 'Notifications: Show Notifications');
  const item = center.locator('.notification-list-item', { hasText: text }).first();
  await item.waitFor({ state: 'visible', timeout: timeoutMs });
  return item;
}

/** The diff viewer's document (webviews are an iframe in an iframe). */
function diffViewer(page: Page): FrameLocator {
  return page.frameLocator('iframe.webview.ready').last().frameLocator('iframe#active-frame');
}

/** The diff viewer frame whose title reads `title` (several panels can be open). */
async function viewerTitled(page: Page, title: string, timeoutMs = 60_000): Promise<Frame> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    for (const f of page.frames()) {
      const t = await f
        .locator('#title')
        .textContent({ timeout: 200 })
        .catch(() => null);
      if (t === title) return f;
    }
    if (Date.now() > until) throw new Error(`no diff viewer titled "${title}"`);
    await page.waitForTimeout(250);
  }
}

/** Rendered widths (px) of the chart's bars, by column, and the counts they show. */
async function barWidths(v: Frame): Promise<Record<string, { px: number; count: number }>> {
  const out: Record<string, { px: number; count: number }> = {};
  for (const bar of await v.locator('#chart .bar').all()) {
    const box = await bar.locator('i').boundingBox();
    out[(await bar.getAttribute('data-column')) ?? '?'] = { px: box?.width ?? 0, count: Number((await bar.locator('.n').innerText()).replace(/,/g, '')) };
  }
  return out;
}

async function count(v: FrameLocator, name: string): Promise<string> {
  return (await v.locator(`[data-count="${name}"] b`).innerText()).trim();
}

async function waitForRunEnd(c: DaemonClient, runId: string): Promise<RunSummary> {
  return new Promise((resolve, reject) => {
    const check = () =>
      c.request('run', { runId }).then((r) => {
        if (FINAL_STATUSES.includes(r.status) || r.status === 'paused') {
          off();
          resolve(r);
        }
      }, reject);
    const off = c.onEvent((e) => {
      if (e.runId === runId && e.kind !== 'progress') void check();
    });
    c.request('subscribe', { runId, fromSeq: 0 }).then(check, reject);
  });
}

/** The daemon's log and the extension's output channel, beside the screenshots. */
async function saveLogs(ws: string, runDir: string): Promise<void> {
  const { cpSync, existsSync, readdirSync } = await import('node:fs');
  const logs = join(OUT, 'logs');
  mkdirSync(logs, { recursive: true });
  if (existsSync(join(ws, '.redress', 'daemon.log'))) cpSync(join(ws, '.redress', 'daemon.log'), join(logs, 'daemon.log'));
  const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)]));
  for (const f of walk(runDir).filter((f) => /Redress\.log$|exthost\.log$/.test(f))) cpSync(f, join(logs, f.slice(runDir.length + 1).replace(/[\\/]/g, '_')));
}

export async function uiTest(report: (line: string) => void = () => {}): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const t0 = Date.now();
  const vsix = join(cacheDir, 'build', 'redress.vsix');
  execFileSync(process.execPath, [join(repoRoot, 'scripts', 'package.mjs'), vsix], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] });
  const entries = vsixEntries(vsix);
  const bytes = statSync(vsix).size;
  const sizeLine = `VSIX: ${vsix}: ${(bytes / 1024 / 1024).toFixed(1)} MiB (${bytes.toLocaleString('en-US')} bytes, ${entries.length} files)`;
  console.log(`  packaged in ${((Date.now() - t0) / 1000).toFixed(1)} s; ${sizeLine}`);
  report(sizeLine);
  const junk = entries.filter((e) => VSIX_JUNK.test(e));
  check(junk.length === 0, `the .vsix carries files it does not need: ${junk.join(', ')}`);
  check(entries.includes('extension/dist/extension.js') && entries.includes('extension/node_modules/better-sqlite3/build/Release/better_sqlite3.node'), 'the .vsix lacks the extension or the SQLite addon');
  const ws = moviesWorkspace();
  addLongRun(ws.path);
  addTwoColumnCorrection(ws.path);
  const dirs = makeRunDirs();
  await installExtension(vsix, dirs);
  const server = await startCodeServer({ dirs, settings: { 'redress.nodePath': process.execPath, 'redress.sampleSize': 5000, 'workbench.editor.enablePreview': false } });
  const browser = await launchBrowser({ viewport: { width: 1600, height: 1000 } });
  const { page } = browser;
  let client: DaemonClient | null = null;
  const shot = (name: string) => page.screenshot({ path: join(OUT, `${name}.png`) }).catch(() => undefined);
  // Chromium also reports CSP violations on the console; kept to explain a failure.
  const cspConsole: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspConsole.push(`${m.location().url}: ${m.text()}`);
  });
  try {
    await openWorkbench(page, server, ws.path);
    await openFile(page, 'fix-release-century.correction.ts');

    // Preview from the palette: the diff viewer shows the daemon's counts and the changed field.
    const previewStart = Date.now();
    await runFromPalette(page, 'Redress: Preview Correction');
    const viewer = diffViewer(page);
    await viewer.locator('body[data-state="rendered"]').waitFor({ timeout: 60_000 });
    console.log(`  preview: palette to diff viewer drawn in ${Date.now() - previewStart} ms (includes the daemon's first start)`);
    check((await count(viewer, 'scanned')) === '3,201', `scanned shows ${await count(viewer, 'scanned')}`);
    check((await count(viewer, 'changed')) === '22', `changed shows ${await count(viewer, 'changed')}`);
    check((await count(viewer, 'quarantined')) === '0', 'quarantined is not 0');
    check((await viewer.locator('.bar[data-column="release_date"] .n').innerText()).trim() === '22', 'the chart has no bar of 22 for release_date');
    check((await viewer.locator('.bar').count()) === 1, 'the chart has bars for columns the correction does not change');
    await page.locator('#workbench\\.parts\\.statusbar', { hasText: 'Redress: connected' }).waitFor({ timeout: 10_000 });
    await viewer.locator('#filter-status').selectOption('changed');
    await viewer.locator('#pager-info', { hasText: 'of 22' }).waitFor({ timeout: 10_000 });
    const duel = viewer.locator('tr.changed', { hasText: '"Dec 31 2046"' });
    await duel.waitFor({ timeout: 10_000 });
    const change = (await duel.locator('.change[data-column="release_date"]').innerText()).replace(/\s+/g, ' ');
    check(change.includes('"Dec 31 2046" → "Dec 31 1946"'), `the changed field reads ${change}`);
    await shot('1-preview-diff-viewer');

    // The chart of a correction that changes two columns: bar widths follow the counts (set through
    // the CSSOM; a style attribute would be blocked by the CSP and every bar drawn full width).
    await openFile(page, 'chart-two-columns.correction.ts');
    await runFromPalette(page, 'Redress: Preview Correction');
    const chart = await viewerTitled(page, 'Preview: chart-two-columns');
    await chart.locator('body[data-state="rendered"]').waitFor({ timeout: 60_000 });
    const bars = await barWidths(chart);
    const { title, release_date: date } = bars;
    check(title && date && Object.keys(bars).length === 2, `the chart's bars: ${JSON.stringify(bars)}`);
    check(date.count === 22 && title.count > 100, `bar counts: ${JSON.stringify(bars)}`);
    check(title.px > 50, `the largest bar is ${title.px} px wide`);
    const ratio = date.px / title.px;
    const expected = Math.round((date.count / title.count) * 100) / 100;
    console.log(`  chart bars: title ${title.count} rows ${title.px.toFixed(1)} px, release_date ${date.count} rows ${date.px.toFixed(1)} px (ratio ${ratio.toFixed(3)}, counts ${expected})`);
    check(Math.abs(ratio - expected) < 0.02, `bar widths do not follow the counts: ratio ${ratio.toFixed(3)}, counts ${expected}`);
    for (const v of [chart, await viewerTitled(page, 'Preview: fix-release-century')]) {
      const n = await v.locator('html').getAttribute('data-csp-violations');
      check(n === '0', `the diff viewer reports ${n} content security policy violation(s): ${cspConsole.join(' | ')}`);
    }
    if (cspConsole.length) console.log(`  (CSP messages on the console, not from the diff viewer: ${cspConsole.length})`);
    await shot('1b-chart-two-columns');

    // Dry-run from the palette: progress to the end, then the result notification.
    await page.locator('.tab', { hasText: 'fix-release-century.correction.ts' }).click();
    await runFromPalette(page, 'Redress: Dry-run Correction');
    const done = (await (await notification(page, 'dry-run completed', 60_000)).innerText()).replace(/\s+/g, ' ');
    check(done.includes('3,201 scanned, 22 changed'), `dry-run notification: ${done}`);
    await shot('2-dry-run-completed');
    await page.keyboard.press('Escape');
    const info = readDaemonInfo(ws.path);
    check(info, 'no .redress/daemon.json in the workspace');
    client = await DaemonClient.connect(info, 'ui-test');
    const dry = (await client.request('runs', { limit: 10 })).runs.find((r) => r.correctionId === 'fix-release-century' && r.kind === 'dry-run');
    check(dry && dry.status === 'completed' && dry.counts.scanned === 3201 && dry.batchesDone === 7, `the daemon's dry-run: ${JSON.stringify(dry)}`);

    // A long dry-run, cancelled from its notification: it stops in the daemon.
    await openFile(page, 'upper-event-kinds.correction.ts');
    await runFromPalette(page, 'Redress: Dry-run Correction');
    const progress = await notification(page, 'dry-run of upper-event-kinds', 60_000);
    await progress.locator('.notification-list-item-message', { hasText: 'rows' }).waitFor({ timeout: 60_000 });
    const shown = (await progress.innerText()).replace(/\s+/g, ' ');
    console.log(`  long run progress shown: ${shown.slice(0, 120)}`);
    await shot('3-long-run-progress');
    const long = (await client.request('status', {})).activeRuns[0];
    check(long, 'the daemon has no active run while the notification shows progress');
    await progress.hover();
    await progress.locator('.monaco-button', { hasText: 'Cancel' }).click();
    const ended = await waitForRunEnd(client, long);
    check(ended.status === 'cancelled', `the long run ended ${ended.status}, not cancelled`);
    check(ended.counts.scanned < LONG_ROWS, `the cancelled run scanned all ${ended.counts.scanned} rows`);
    check((await client.request('status', {})).activeRuns.length === 0, 'a run is still active in the daemon');
    await notification(page, 'dry-run cancelled', 30_000);
    console.log(`  long run cancelled after ${ended.counts.scanned.toLocaleString('en-US')} of ${LONG_ROWS.toLocaleString('en-US')} rows (${ended.batchesDone} batches)`);
    await shot('4-long-run-cancelled');

    // A window with no folder: the commands are there and say what to do.
    client.close();
    client = null;
    await page.goto(`${server.url}/?ew=true`);
    await page.locator('#workbench\\.parts\\.statusbar').waitFor({ state: 'visible', timeout: 60_000 });
    await runFromPalette(page, 'Redress: Preview Correction');
    const hint = (await (await notification(page, 'open a folder with a redress.config.json', 30_000)).innerText()).replace(/\s+/g, ' ');
    console.log(`  no folder open: ${hint.slice(0, 120)}`);
    await shot('5-no-folder');
  } catch (err) {
    await shot('failure');
    await page.keyboard.press('Escape');
    await runFromPalette(page, 'Notifications: Show Notifications').catch(() => undefined);
    await shot('failure-notifications');
    await saveLogs(ws.path, dirs.runDir);
    throw err;
  } finally {
    client?.close();
    await browser.close();
    await server.stop();
    ws.remove();
    console.log(`  screenshots: ${OUT}`);
  }
}
