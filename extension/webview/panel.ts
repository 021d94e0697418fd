// The diff viewer's panel in the extension host: serves pages to the webview, exports reports.
// It posts nothing until the webview says `ready`; it parses every message from it; a CSP with a
// nonce allows only the bundled script, the page's own style sheet and a small inline script that
// counts CSP violations; localResourceRoots is the bundled webview folder only.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import * as vscode from 'vscode';
import { coerceError } from '../../shared/errors';
import type { RowDiff } from '../../shared/protocol';
import { parseFromWebview, SeqGate, ToWebview, type ViewInfo } from './messages';
import type { DiffSource } from './model';
import { renderHtml, renderMarkdown } from './report';

export interface PanelContent {
  /** Identifies the panel: the same key reuses it (a new preview of one correction replaces the old). */
  key: string;
  view: ViewInfo;
  source: DiffSource;
  correctionPath: string | null;
}

export interface Rendered {
  rows: number;
  total: number;
  /** performance.now() in the extension host when the webview said it drew the page. */
  at: number;
}

export class DiffPanel implements vscode.Disposable {
  private static readonly panels = new Map<string, DiffPanel>();
  private readonly panel: vscode.WebviewPanel;
  private ready = false;
  private seq = 0;
  private readonly gate = new SeqGate();
  private content: PanelContent;
  private readonly disposables: vscode.Disposable[] = [];
  private renderWaiters: ((r: Rendered) => void)[] = [];
  readonly renders: Rendered[] = [];
  /** Where the next export goes without asking (tests); else a save dialog. */
  exportTo: ((format: 'markdown' | 'html') => vscode.Uri | undefined) | null = null;

  static open(extensionUri: vscode.Uri, content: PanelContent, log: (l: string) => void, reportMaxRows: () => number): DiffPanel {
    const existing = DiffPanel.panels.get(content.key);
    if (existing) {
      existing.replace(content);
      existing.panel.reveal(undefined, true);
      DiffPanel.lastActive = existing;
      return existing;
    }
    const p = new DiffPanel(extensionUri, content, log, reportMaxRows);
    DiffPanel.panels.set(content.key, p);
    return p;
  }

  private static lastActive: DiffPanel | null = null;

  static all(): DiffPanel[] {
    return [...DiffPanel.panels.values()];
  }

  /** The panel a person looked at last (what "Export Review Report" exports). */
  static current(): DiffPanel | undefined {
    return DiffPanel.lastActive ?? DiffPanel.all().at(-1);
  }

  static forRun(runId: string): DiffPanel | undefined {
    return DiffPanel.all().find((p) => p.content.view.runId === runId);
  }

  private constructor(
    private readonly extensionUri: vscode.Uri,
    content: PanelContent,
    private readonly log: (l: string) => void,
    private readonly reportMaxRows: () => number,
  ) {
    this.content = content;
    const root = vscode.Uri.joinPath(extensionUri, 'dist', 'webview');
    this.panel = vscode.window.createWebviewPanel('redress.diff', content.view.title, { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, {
      enableScripts: true,
      localResourceRoots: [root],
      retainContextWhenHidden: true,
    });
    this.panel.webview.html = this.html(root);
    this.disposables.push(
      this.panel.webview.onDidReceiveMessage((m: unknown) => void this.received(m)),
      this.panel.onDidDispose(() => this.dispose()),
      this.panel.onDidChangeViewState((e) => {
        if (e.webviewPanel.active) DiffPanel.lastActive = this;
      }),
    );
    DiffPanel.lastActive = this;
  }

  get view(): ViewInfo {
    return this.content.view;
  }

  get title(): string {
    return this.panel.title;
  }

  /** Resolves at the next page the webview reports drawn. */
  nextRender(): Promise<Rendered> {
    return new Promise((r) => this.renderWaiters.push(r));
  }

  private post(m: ToWebview): void {
    if (!this.ready) return; // nothing before `ready`; init is sent when it comes
    void this.panel.webview.postMessage(m);
  }

  private next(): number {
    return ++this.seq;
  }

  /** New content for this panel (a new preview): the webview starts over. */
  replace(content: PanelContent): void {
    this.content = content;
    this.panel.title = content.view.title;
    this.post({ type: 'init', seq: this.next(), view: content.view });
  }

  /** Fresh numbers for the same rows (a run's progress). */
  update(view: ViewInfo): void {
    this.content = { ...this.content, view };
    this.post({ type: 'update', seq: this.next(), view });
  }

  private async received(raw: unknown): Promise<void> {
    const parsed = parseFromWebview(raw);
    if (!parsed.ok) {
      this.log(`diff viewer: dropped a message that is not in the protocol (${parsed.why})`);
      return;
    }
    const m = parsed.msg;
    if (!this.gate.admit(m)) {
      this.log(`diff viewer: dropped message ${m.seq} (replayed or out of order)`);
      return;
    }
    switch (m.type) {
      case 'ready':
        this.ready = true;
        this.post({ type: 'init', seq: this.next(), view: this.content.view });
        return;
      case 'page': {
        const content = this.content;
        try {
          const page = await content.source.page(m.offset, m.limit, m.filter);
          if (this.content !== content) return; // replaced meanwhile
          this.post({ type: 'page', seq: this.next(), re: m.seq, offset: m.offset, total: page.total, rows: page.rows });
        } catch (e) {
          this.post({ type: 'error', seq: this.next(), re: m.seq, message: coerceError(e).message });
        }
        return;
      }
      case 'export':
        try {
          const path = await this.export(m.format);
          if (path) this.post({ type: 'exported', seq: this.next(), re: m.seq, path });
        } catch (e) {
          this.post({ type: 'error', seq: this.next(), re: m.seq, message: `Export failed: ${coerceError(e).message}` });
        }
        return;
      case 'rendered': {
        const r = { rows: m.rows, total: m.total, at: performance.now() };
        this.renders.push(r);
        for (const w of this.renderWaiters.splice(0)) w(r);
        return;
      }
    }
  }

  /** Writes the review report; returns where, or null if the person cancelled the dialog. */
  async export(format: 'markdown' | 'html', to?: vscode.Uri): Promise<string | null> {
    const rows: RowDiff[] = [];
    const max = this.reportMaxRows();
    while (rows.length < max) {
      const page = await this.content.source.page(rows.length, Math.min(1000, max - rows.length), {});
      rows.push(...page.rows);
      if (page.rows.length === 0 || rows.length >= page.total) break;
    }
    const data = { view: this.content.view, rows, generatedAt: new Date().toISOString(), correctionPath: this.content.correctionPath };
    const text = format === 'markdown' ? renderMarkdown(data) : renderHtml(data);
    const ext = format === 'markdown' ? 'md' : 'html';
    const base = `${this.content.view.correctionId}-${this.content.view.runId ?? 'preview'}-review.${ext}`;
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    const uri =
      to ??
      this.exportTo?.(format) ??
      (await vscode.window.showSaveDialog({
        title: 'Export Redress review report',
        ...(folder ? { defaultUri: vscode.Uri.joinPath(folder, base) } : {}),
        filters: format === 'markdown' ? { Markdown: ['md'] } : { HTML: ['html'] },
      }));
    if (!uri) return null;
    writeFileSync(uri.fsPath, text);
    this.log(`review report written to ${uri.fsPath}`);
    return uri.fsPath;
  }

  private html(root: vscode.Uri): string {
    const nonce = randomBytes(16).toString('base64');
    const script = this.panel.webview.asWebviewUri(vscode.Uri.joinPath(root, 'webview.js'));
    const csp = [`default-src 'none'`, `img-src ${this.panel.webview.cspSource} data:`, `style-src 'nonce-${nonce}'`, `script-src 'nonce-${nonce}'`].join('; ');
    return `<!DOCTYPE html>
<html lang="en" data-csp-violations="0"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<script nonce="${nonce}">
// Before anything else is parsed: count what the CSP blocks (a style attribute, an eval) on <html>
// and log it, so a page that silently looks wrong is seen (the UI test reads the count).
(() => {
  let n = 0;
  document.addEventListener('securitypolicyviolation', (e) => {
    document.documentElement.dataset.cspViolations = String(++n);
    console.error('diff viewer: content security policy blocked ' + e.effectiveDirective + ' (' + (e.blockedURI || 'inline') + ') at ' + (e.sourceFile || 'the page') + ':' + e.lineNumber);
  });
})();
</script>
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<style nonce="${nonce}">
body{color:var(--vscode-foreground);background:var(--vscode-editor-background);font-family:var(--vscode-font-family);font-size:var(--vscode-font-size);padding:0 1rem 2rem}
h1{font-size:1.25em;margin:.8em 0 .2em}h2.chart-title{font-size:1em}.muted,#facts{color:var(--vscode-descriptionForeground)}
#message{margin:.3em 0}
.counts{display:flex;gap:.6rem;flex-wrap:wrap;margin:.8em 0}
.count{border:1px solid var(--vscode-panel-border);border-radius:4px;padding:.3em .8em;min-width:6em}
.count b{display:block;font-size:1.4em}
.count.changed b{color:var(--vscode-gitDecoration-modifiedResourceForeground)}
.count.quarantined b{color:var(--vscode-editorWarning-foreground)}
.bar{display:grid;grid-template-columns:14em 1fr 5em;align-items:center;gap:.5em;margin:.1em 0;max-width:48em}
.bar .name{font-family:var(--vscode-editor-font-family);overflow:hidden;text-overflow:ellipsis}
.bar i{display:block;height:.8em;background:var(--vscode-charts-blue);border-radius:2px}
.filters{display:flex;gap:.5em;flex-wrap:wrap;align-items:center;margin:1em 0 .5em}
select,input{background:var(--vscode-input-background);color:var(--vscode-input-foreground);border:1px solid var(--vscode-input-border,transparent);padding:.2em .4em}
button{background:var(--vscode-button-background);color:var(--vscode-button-foreground);border:none;padding:.3em .8em;cursor:pointer}
button:disabled{opacity:.5;cursor:default}button.secondary{background:var(--vscode-button-secondaryBackground);color:var(--vscode-button-secondaryForeground)}
table{border-collapse:collapse;width:100%}th,td{text-align:left;vertical-align:top;padding:.2em .5em;border-bottom:1px solid var(--vscode-panel-border)}
td.key,.col,del,ins{font-family:var(--vscode-editor-font-family)}
.col{color:var(--vscode-descriptionForeground)}
del{background:var(--vscode-diffEditor-removedTextBackground);text-decoration:line-through}
ins{background:var(--vscode-diffEditor-insertedTextBackground);text-decoration:none}
tr.quarantined td{background:var(--vscode-inputValidation-warningBackground)}
#error{color:var(--vscode-errorForeground)}.pager{display:flex;gap:.6em;align-items:center;margin:.5em 0}
</style>
<title>Redress diff</title></head>
<body data-state="loading">
<h1 id="title">Loading…</h1>
<div id="facts"></div>
<div id="message"></div>
<div id="counts" class="counts"></div>
<h2 class="muted chart-title">Changes per column</h2>
<div id="chart"></div>
<div class="filters">
  <select id="filter-status" aria-label="status"><option value="">all statuses</option><option value="changed">changed</option><option value="skipped">skipped</option><option value="quarantined">quarantined</option></select>
  <select id="filter-column" aria-label="column"><option value="">all columns</option></select>
  <input id="filter-text" type="search" placeholder="filter by text (key, value, reason)" maxlength="200" aria-label="text">
  <button id="export-md" class="secondary">Export Markdown</button>
  <button id="export-html" class="secondary">Export HTML</button>
</div>
<div id="error" hidden></div><div id="notice" class="muted"></div>
<div class="pager"><button id="prev" class="secondary">‹ Previous</button><span id="pager-info"></span><button id="next" class="secondary">Next ›</button></div>
<table><thead><tr><th>key</th><th>status</th><th>changes (before → after)</th><th>reason</th></tr></thead><tbody id="rows"></tbody></table>
<p id="empty" class="muted" hidden>No rows match.</p>
<script nonce="${nonce}" src="${script}"></script>
</body></html>`;
  }

  dispose(): void {
    if (DiffPanel.lastActive === this) DiffPanel.lastActive = null;
    DiffPanel.panels.delete(this.content.key);
    for (const [k, p] of DiffPanel.panels) if (p === this) DiffPanel.panels.delete(k);
    for (const d of this.disposables.splice(0)) d.dispose();
    this.panel.dispose();
  }

  /** Closes every panel (deactivate). */
  static disposeAll(): void {
    for (const p of DiffPanel.all()) p.dispose();
  }
}
