// The diff viewer, inside the webview: summary, changes-per-column chart, filters, and a paged table
// of row diffs. It says `ready` first and then only asks for pages; every message it receives is
// parsed with the shared schemas, and a page answering an older request is dropped.
import './jitless'; // first: before the schemas in ./messages are built
import { FromWebview, ToWebview, type Filter, type ViewInfo } from './messages';
import { chartBars, clampPage, COUNT_NAMES, formatValue, keyText, pageCount } from './model';
import type { RowDiff } from '../../shared/protocol';

declare function acquireVsCodeApi(): { postMessage(m: unknown): void; getState(): unknown; setState(s: unknown): void };

const vscode = acquireVsCodeApi();
const PAGE_SIZE = 100;

let seq = 0;
let lastIn = -1;
let view: ViewInfo | null = null;
let page = 0;
let total = 0;
let latestPageRequest = -1;
let filter: Filter = {};

type Outgoing = FromWebview extends infer T ? (T extends unknown ? Omit<T, 'seq'> : never) : never;

function post(m: Outgoing): number {
  const msg = { ...m, seq: ++seq };
  const checked = FromWebview.safeParse(msg);
  if (!checked.success) throw new Error(`webview would send an invalid message: ${checked.error.message}`);
  vscode.postMessage(checked.data);
  return msg.seq;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

/**
 * A chart bar's fill. Its width is set through the CSSOM (element.style), which the content security
 * policy allows: a `style` attribute is inline style, which `style-src 'nonce-…'` blocks.
 */
function barFill(width: number): HTMLElement {
  const i = el('i');
  i.style.width = `${Math.max(1, width)}%`;
  return i;
}

function requestPage(): void {
  latestPageRequest = post({ type: 'page', offset: page * PAGE_SIZE, limit: PAGE_SIZE, filter });
  $('pager-info').textContent = 'Loading…';
}

function renderView(v: ViewInfo): void {
  view = v;
  $('title').textContent = v.title;
  const facts: string[] = [];
  if (v.kind === 'preview' && v.sampleSize !== null) facts.push(`sample of ${v.sampleSize.toLocaleString('en-US')} rows`);
  if (v.runId) facts.push(`${v.runKind} ${v.runId}: ${v.status}`);
  if (v.totalRows !== null && v.kind === 'run') facts.push(`${v.summary.scanned.toLocaleString('en-US')} / ${v.totalRows.toLocaleString('en-US')} rows`);
  if (v.planId) facts.push(`plan ${v.planId}`);
  if (v.durationMs !== null) facts.push(`${Math.round(v.durationMs)} ms in the daemon`);
  if (v.target) facts.push(v.target);
  $('facts').textContent = facts.join(' · ');
  $('message').textContent = v.message ?? '';
  const counts = $('counts');
  counts.replaceChildren(
    ...COUNT_NAMES.map((k) => el('div', { class: `count ${k}`, 'data-count': k }, el('b', {}, v.summary[k].toLocaleString('en-US')), el('span', {}, k))),
  );
  const bars = chartBars(v.summary.changesPerColumn);
  $('chart').replaceChildren(
    ...(bars.length
      ? bars.map((b) => el('div', { class: 'bar', 'data-column': b.column }, el('span', { class: 'name' }, b.column), barFill(b.width), el('span', { class: 'n' }, b.count.toLocaleString('en-US'))))
      : [el('p', { class: 'muted' }, 'No column changes.')]),
  );
  const columnSelect = $<HTMLSelectElement>('filter-column');
  const current = columnSelect.value;
  columnSelect.replaceChildren(el('option', { value: '' }, 'all columns'), ...Object.keys(v.summary.changesPerColumn).sort().map((c) => el('option', { value: c }, c)));
  columnSelect.value = Object.keys(v.summary.changesPerColumn).includes(current) ? current : '';
}

function changeCell(r: RowDiff): HTMLElement {
  const td = el('td', { class: 'changes' });
  for (const [c, x] of Object.entries(r.changes)) {
    td.append(el('div', { class: 'change', 'data-column': c }, el('span', { class: 'col' }, c), ' ', el('del', {}, formatValue(x.before)), ' → ', el('ins', {}, formatValue(x.after))));
  }
  return td;
}

function renderPage(offset: number, t: number, rows: RowDiff[], re: number): void {
  total = t;
  page = Math.floor(offset / PAGE_SIZE);
  const body = $('rows');
  body.replaceChildren(
    ...rows.map((r) => el('tr', { class: r.status, 'data-status': r.status }, el('td', { class: 'key' }, keyText(r.key)), el('td', { class: 'status' }, r.status), changeCell(r), el('td', { class: 'reason' }, r.reason ?? ''))),
  );
  $('empty').hidden = rows.length > 0;
  const pages = pageCount(t, PAGE_SIZE);
  $('pager-info').textContent = t === 0 ? 'No rows match.' : `Rows ${(offset + 1).toLocaleString('en-US')}–${(offset + rows.length).toLocaleString('en-US')} of ${t.toLocaleString('en-US')} · page ${page + 1} of ${pages.toLocaleString('en-US')}`;
  $<HTMLButtonElement>('prev').disabled = page === 0;
  $<HTMLButtonElement>('next').disabled = page >= pages - 1;
  document.body.dataset.state = 'rendered';
  post({ type: 'rendered', re, rows: rows.length, total: t });
}

function onMessage(raw: unknown): void {
  const parsed = ToWebview.safeParse(raw);
  if (!parsed.success) {
    console.warn('diff viewer: dropped a message that is not in the protocol', parsed.error.issues[0]);
    return;
  }
  const m = parsed.data;
  if (m.seq <= lastIn) return; // replayed or out of order
  lastIn = m.seq;
  switch (m.type) {
    case 'init':
      renderView(m.view);
      page = 0;
      requestPage();
      break;
    case 'update': {
      const grew = view !== null && m.view.diffCount !== view.diffCount;
      renderView(m.view);
      if (grew && page === 0) requestPage();
      break;
    }
    case 'page':
      if (m.re !== latestPageRequest) return; // an answer to a request that was superseded
      renderPage(m.offset, m.total, m.rows, m.re);
      break;
    case 'error':
      $('error').textContent = m.message;
      $('error').hidden = false;
      if (m.re === latestPageRequest) $('pager-info').textContent = '';
      break;
    case 'exported':
      $('error').hidden = true;
      $('notice').textContent = `Report saved: ${m.path}`;
      break;
  }
}

function setFilter(next: Filter): void {
  filter = next;
  page = 0;
  requestPage();
}

function currentFilter(): Filter {
  const status = $<HTMLSelectElement>('filter-status').value;
  const column = $<HTMLSelectElement>('filter-column').value;
  const text = $<HTMLInputElement>('filter-text').value.trim().slice(0, 200);
  return { ...(status ? { status: status as Filter['status'] } : {}), ...(column ? { column } : {}), ...(text ? { text } : {}) };
}

let textTimer: number | undefined;
$('filter-status').addEventListener('change', () => setFilter(currentFilter()));
$('filter-column').addEventListener('change', () => setFilter(currentFilter()));
$('filter-text').addEventListener('input', () => {
  window.clearTimeout(textTimer);
  textTimer = window.setTimeout(() => setFilter(currentFilter()), 250);
});
$('prev').addEventListener('click', () => {
  page = clampPage(page - 1, total, PAGE_SIZE);
  requestPage();
});
$('next').addEventListener('click', () => {
  page = clampPage(page + 1, total, PAGE_SIZE);
  requestPage();
});
$('export-md').addEventListener('click', () => post({ type: 'export', format: 'markdown' }));
$('export-html').addEventListener('click', () => post({ type: 'export', format: 'html' }));
window.addEventListener('message', (e: MessageEvent) => onMessage(e.data));
post({ type: 'ready' });
