// What the status bar item says for each daemon state (pure: no vscode, unit-tested). Every state
// reads differently, so "never started" and "connected" are not mistaken for each other.
import type { DaemonState } from './session';

export interface StatusView {
  text: string;
  tooltip: string;
  /** Background: none, or the theme's warning or error colour. */
  severity: 'none' | 'warning' | 'error';
}

export function statusView(s: DaemonState): StatusView {
  switch (s.kind) {
    case 'stopped':
      return { text: '$(circle-outline) Redress: stopped', tooltip: 'Redress: no daemon connected; it starts with the first preview, dry-run or check. Click for the logs.', severity: 'none' };
    case 'starting':
      return { text: '$(loading~spin) Redress: starting', tooltip: `Redress: ${s.detail}. Click for the logs.`, severity: 'none' };
    case 'connected':
      return { text: '$(database) Redress: connected', tooltip: `Redress: connected to daemon pid ${s.pid} (v${s.version}). Click for the logs.`, severity: 'none' };
    case 'down':
      return s.retryInMs !== undefined
        ? { text: '$(sync~spin) Redress: reconnecting', tooltip: `Redress: ${s.message} Click for the logs.`, severity: 'warning' }
        : { text: '$(error) Redress: down', tooltip: `Redress: ${s.message} Click for the logs.`, severity: 'error' };
  }
}
