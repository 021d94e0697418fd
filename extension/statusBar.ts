// The status bar item: the daemon's state at a glance (texts in statusView.ts); a click opens the logs.
import * as vscode from 'vscode';
import type { DaemonState } from './session';
import { statusView } from './statusView';

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('redress.daemon', vscode.StatusBarAlignment.Left, 10);

  constructor() {
    this.item.name = 'Redress daemon';
    this.item.command = 'redress.showLogs';
    this.show({ kind: 'stopped' });
    this.item.show();
  }

  show(s: DaemonState): void {
    const v = statusView(s);
    this.item.text = v.text;
    this.item.tooltip = v.tooltip;
    this.item.backgroundColor = v.severity === 'none' ? undefined : new vscode.ThemeColor(v.severity === 'warning' ? 'statusBarItem.warningBackground' : 'statusBarItem.errorBackground');
  }

  get text(): string {
    return this.item.text;
  }

  dispose(): void {
    this.item.dispose();
  }
}
