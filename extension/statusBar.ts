// The status bar item: the daemon's state at a glance; a click opens the logs.
import * as vscode from 'vscode';
import type { DaemonState } from './session';

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('redress.daemon', vscode.StatusBarAlignment.Left, 10);

  constructor() {
    this.item.name = 'Redress daemon';
    this.item.command = 'redress.showLogs';
    this.show({ kind: 'stopped' });
    this.item.show();
  }

  show(s: DaemonState): void {
    this.item.backgroundColor = undefined;
    switch (s.kind) {
      case 'stopped':
        this.item.text = '$(database) Redress';
        this.item.tooltip = 'Redress: the daemon starts with the first preview, dry-run or check. Click for the logs.';
        break;
      case 'starting':
        this.item.text = '$(loading~spin) Redress: starting';
        this.item.tooltip = `Redress: ${s.detail}. Click for the logs.`;
        break;
      case 'connected':
        this.item.text = '$(database) Redress';
        this.item.tooltip = `Redress: connected to daemon pid ${s.pid} (v${s.version}). Click for the logs.`;
        break;
      case 'down':
        this.item.text = s.retryInMs !== undefined ? '$(sync~spin) Redress: reconnecting' : '$(error) Redress: down';
        this.item.tooltip = `Redress: ${s.message} Click for the logs.`;
        this.item.backgroundColor = new vscode.ThemeColor(s.retryInMs !== undefined ? 'statusBarItem.warningBackground' : 'statusBarItem.errorBackground');
        break;
    }
  }

  get text(): string {
    return this.item.text;
  }

  dispose(): void {
    this.item.dispose();
  }
}
