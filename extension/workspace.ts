// The workspace's Redress configuration as the extension needs it (pure: no vscode).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_FILE, workspaceConfigOrNull } from '../shared/config';

/** The folder to serve: the first that has redress.config.json, else the first. */
export function pickWorkspace(folders: readonly string[]): string | null {
  return folders.find((f) => existsSync(join(f, CONFIG_FILE))) ?? folders[0] ?? null;
}

/** corrections/ of the workspace (redress.config.json's correctionsDir), even if the config is broken. */
export function correctionsDir(workspace: string): string {
  return join(workspace, workspaceConfigOrNull(workspace)?.correctionsDir ?? 'corrections');
}

/** A correction id (kebab-case, as shared/manifest.ts requires) from what a person typed. */
export function validCorrectionId(id: string): string | null {
  if (!/^[a-z0-9][a-z0-9-]{0,79}$/.test(id)) return 'Use kebab-case: lower-case letters, digits and dashes (e.g. fix-release-dates).';
  return null;
}
