// Every command of the extension, in one table: id, title, and what it needs. commands.ts gives each
// one its handler (the type system makes it give exactly these), package.json lists the same ids and
// titles (test/extension/manifest.test.ts checks both ways).

export interface CommandInfo {
  title: string;
  /** 'daemon': starts or reuses the daemon first and says clearly when it is down. */
  needs: 'daemon' | 'none';
  /** Shown in the command palette (false for commands that need an argument, like a run in the tree). */
  palette: boolean;
  icon?: string;
}

export const CATEGORY = 'Redress';

export const COMMANDS = {
  'redress.newCorrection': { title: 'New Correction', needs: 'daemon', palette: true },
  'redress.preview': { title: 'Preview Correction', needs: 'daemon', palette: true },
  'redress.dryRun': { title: 'Dry-run Correction', needs: 'daemon', palette: true },
  'redress.applyLocal': { title: 'Apply Correction (local)', needs: 'daemon', palette: true },
  'redress.openLastRun': { title: 'Open Last Run of Correction', needs: 'daemon', palette: true },
  'redress.checkCorrection': { title: 'Check Correction (compile and manifest)', needs: 'daemon', palette: true },
  'redress.regenerateTypes': { title: 'Regenerate Row Types', needs: 'daemon', palette: true },
  'redress.exportReport': { title: 'Export Review Report', needs: 'daemon', palette: true },
  'redress.openRun': { title: 'Open Run', needs: 'daemon', palette: false, icon: '$(diff)' },
  'redress.pauseRun': { title: 'Pause Run', needs: 'daemon', palette: false, icon: '$(debug-pause)' },
  'redress.resumeRun': { title: 'Resume Run', needs: 'daemon', palette: false, icon: '$(debug-continue)' },
  'redress.cancelRun': { title: 'Cancel Run', needs: 'daemon', palette: false, icon: '$(debug-stop)' },
  'redress.verifyRun': { title: 'Verify Run', needs: 'daemon', palette: false, icon: '$(check-all)' },
  'redress.rollbackRun': { title: 'Roll Back Run', needs: 'daemon', palette: false, icon: '$(discard)' },
  'redress.refreshRuns': { title: 'Refresh Runs', needs: 'daemon', palette: true, icon: '$(refresh)' },
  'redress.showLogs': { title: 'Show Daemon Logs', needs: 'none', palette: true },
  'redress.restartDaemon': { title: 'Restart Daemon', needs: 'none', palette: true },
  'redress.stopDaemon': { title: 'Stop Daemon', needs: 'none', palette: true },
} as const satisfies Record<string, CommandInfo>;

export type CommandId = keyof typeof COMMANDS;
export const COMMAND_IDS = Object.keys(COMMANDS) as CommandId[];
