// The Runs view: local runs, newest first, with their status and progress; pause, resume, cancel,
// verify and roll back from the item's menu. Refreshed on run events and, while visible, every few seconds.
import * as vscode from 'vscode';
import type { RunSummary } from '../shared/protocol';
import type { Ctx } from './ctx';
import { contextValue, runDescription, runIcon, runLabel, runTooltip } from './runsModel';

const POLL_MS = 4000;

export class RunItem extends vscode.TreeItem {
  constructor(readonly run: RunSummary, active: boolean) {
    super(runLabel(run), vscode.TreeItemCollapsibleState.None);
    this.id = run.id;
    this.description = runDescription(run);
    this.tooltip = runTooltip(run);
    this.iconPath = new vscode.ThemeIcon(runIcon(run));
    this.contextValue = contextValue(run, active);
    if (run.kind === 'dry-run' || run.kind === 'apply') this.command = { command: 'redress.openRun', title: 'Open Run', arguments: [run.id] };
  }
}

export class RunsView implements vscode.TreeDataProvider<RunItem>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  private runs: RunSummary[] = [];
  private active = new Set<string>();
  private readonly view: vscode.TreeView<RunItem>;
  private timer: NodeJS.Timeout | null = null;
  private pending: NodeJS.Timeout | null = null;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly ctx: Ctx) {
    this.view = vscode.window.createTreeView('redress.runs', { treeDataProvider: this, showCollapseAll: false });
    this.disposables.push(
      this.view,
      this.changed,
      this.view.onDidChangeVisibility(() => this.schedulePoll()),
      ctx.onState((s) => {
        if (s.kind === 'connected') this.soon();
        this.schedulePoll();
      }),
    );
    const off = ctx.session.onRunEvent(() => this.soon());
    this.disposables.push({ dispose: off });
  }

  /** Coalesces bursts of events into one refresh. */
  soon(): void {
    if (this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = null;
      void this.refresh();
    }, 250);
  }

  private schedulePoll(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.view.visible && this.ctx.state.kind === 'connected') this.timer = setInterval(() => void this.refresh(), POLL_MS);
  }

  /** Reloads the list (only when connected: a refresh never starts the daemon by itself). */
  async refresh(): Promise<RunSummary[]> {
    if (this.ctx.state.kind !== 'connected') return this.runs;
    try {
      const [{ runs }, status] = await Promise.all([this.ctx.request('runs', { limit: 50 }), this.ctx.request('status', {})]);
      this.runs = runs;
      this.active = new Set(status.activeRuns);
      this.changed.fire();
    } catch (e) {
      this.ctx.logs.error(`could not list runs: ${(e as Error).message}`);
    }
    return this.runs;
  }

  get items(): readonly RunSummary[] {
    return this.runs;
  }

  getTreeItem(e: RunItem): vscode.TreeItem {
    return e;
  }

  getChildren(e?: RunItem): RunItem[] {
    if (e) return [];
    return this.runs.map((r) => new RunItem(r, this.active.has(r.id)));
  }

  dispose(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.pending) clearTimeout(this.pending);
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}
