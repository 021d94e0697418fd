// The VS Code extension's entry: wires the context, commands, views and providers. It holds no
// database and no native module; everything goes through the daemon (shared/protocol.ts).
import * as vscode from 'vscode';
import type { RedressApi } from './api';
import { CorrectionLenses } from './codelens';
import { keepRunPanelsFresh, refreshStaleTypes, registerCommands, registerWithoutWorkspace, type Services } from './commands';
import { Ctx } from './ctx';
import { Diagnostics } from './diagnostics';
import { RunsView } from './runsView';
import { DiffPanel } from './webview/panel';
import { pickWorkspace } from './workspace';

let ctx: Ctx | null = null;

export function activate(ext: vscode.ExtensionContext): RedressApi | undefined {
  const folders = (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath);
  const workspace = pickWorkspace(folders);
  if (!workspace) {
    // Activated by a command from the palette in a window with no folder: nothing to serve, but every
    // command answers with what to do.
    ext.subscriptions.push(...registerWithoutWorkspace());
    return undefined;
  }
  ctx = new Ctx(ext, workspace);
  const diagnostics = new Diagnostics(ctx);
  const runsView = new RunsView(ctx);
  const api: RedressApi = { ctx, runsView, diagnostics, panels: () => DiffPanel.all(), lastError: null, lastRun: null };
  const services: Services = { ctx, diagnostics, runsView, api };
  ext.subscriptions.push(
    ctx,
    diagnostics,
    runsView,
    ...registerCommands(services),
    keepRunPanelsFresh(services),
    vscode.languages.registerCodeLensProvider({ language: 'typescript', pattern: '**/*.correction.ts' }, new CorrectionLenses()),
    { dispose: () => DiffPanel.disposeAll() },
  );
  const c = ctx;
  c.session.onConnected(() => {
    void refreshStaleTypes(services).then(
      (t) => t.length && c.logs.info(`regenerated row types for ${t.join(', ')} (their schema changed)`),
      (e: unknown) => c.logs.error(`could not check row types: ${(e as Error).message}`),
    );
  });
  ctx.logs.info(`Redress extension active for ${workspace} (extension host: Node ${process.version}, pid ${process.pid})`);
  return api;
}

export async function deactivate(): Promise<void> {
  // Closing this window's connection is enough: the daemon serves other windows, and exits once its
  // owner (this extension host, if it started it) is gone and no client is left.
  await ctx?.session.dispose();
  ctx = null;
}
