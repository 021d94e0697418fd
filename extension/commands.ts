// The handlers of every command in commandRegistry.ts (Record<CommandId, …>: none missing, none extra).
// Commands that need the daemon start it on demand; every failure becomes one clear message.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as vscode from 'vscode';
import apiSource from 'redress:api-source';
import { coerceError, RedressError } from '../shared/errors';
import type { Result, RunSummary, TableInfo } from '../shared/protocol';
import type { RedressApi } from './api';
import { COMMANDS, type CommandId } from './commandRegistry';
import type { Ctx } from './ctx';
import type { Diagnostics } from './diagnostics';
import { followRun, runOutcome, type FollowHooks } from './runFollow';
import { RunItem, type RunsView } from './runsView';
import { generatedFingerprint, rowTypeName, scaffoldCorrection, typesFileName, writeTypes } from './typedRows';
import type { ViewInfo } from './webview/messages';
import { daemonSource, memorySource } from './webview/model';
import { DiffPanel } from './webview/panel';
import { correctionsDir, validCorrectionId } from './workspace';

export interface Services {
  ctx: Ctx;
  diagnostics: Diagnostics;
  runsView: RunsView;
  api: RedressApi;
}

type Handler = (s: Services, ...args: unknown[]) => Promise<unknown>;

/** Options the commands accept as a last argument (tests and other extensions; the UI passes none). */
export interface PreviewOptions {
  sampleSize?: number;
  seed?: number;
  /** A snapshot file to sample instead of the target (default: the redress.previewSnapshot setting). */
  snapshot?: string;
}
export interface RunOptions extends FollowHooks {
  batchSize?: number;
  /** Skip the confirmation of Apply (tests). */
  confirmed?: boolean;
}

// ---------- helpers ----------

async function correctionUri(arg: unknown): Promise<vscode.Uri> {
  // The argument (CodeLens, explorer), else the active editor, else the one correction on screen
  // (focus may be in the diff viewer beside it), else ask.
  const visible = vscode.window.visibleTextEditors.map((e) => e.document.uri).filter((u) => u.fsPath.endsWith('.correction.ts'));
  const active = vscode.window.activeTextEditor?.document.uri;
  const uri =
    arg instanceof vscode.Uri ? arg : typeof arg === 'string' ? vscode.Uri.file(arg) : active?.fsPath.endsWith('.correction.ts') ? active : visible.length === 1 ? visible[0] : undefined;
  if (uri && uri.fsPath.endsWith('.correction.ts')) {
    const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
    if (doc?.isDirty) await doc.save();
    return uri;
  }
  const files = await vscode.workspace.findFiles('**/*.correction.ts', '**/node_modules/**', 200);
  if (files.length === 0) throw new RedressError('CONFIG', 'This workspace has no corrections yet. Run "Redress: New Correction" to write one.');
  const pick = await vscode.window.showQuickPick(
    files.map((f) => ({ label: f.path.split('/').pop()!.replace(/\.correction\.ts$/, ''), description: vscode.workspace.asRelativePath(f), uri: f })),
    { title: 'Which correction?' },
  );
  if (!pick) throw new RedressError('CANCELLED', 'No correction chosen.');
  return pick.uri;
}

const opts = <T>(args: unknown[], index: number): T => (args[index] && typeof args[index] === 'object' && !(args[index] instanceof vscode.Uri) ? (args[index] as T) : ({} as T));

function runIdOf(arg: unknown): string {
  if (arg instanceof RunItem) return arg.run.id;
  if (typeof arg === 'string' && arg) return arg;
  if (arg && typeof arg === 'object' && typeof (arg as { id?: unknown }).id === 'string') return (arg as { id: string }).id;
  throw new RedressError('RUN_NOT_FOUND', 'Choose a run in the Runs view.');
}

async function correctionIdOf(s: Services, uri: vscode.Uri): Promise<string> {
  const r = await s.diagnostics.check(uri);
  if (!r.ok || !r.correctionId) throw new RedressError('COMPILE', `${vscode.workspace.asRelativePath(uri)} has problems (see the Problems panel); fix them first.`);
  return r.correctionId;
}

function previewView(r: Result<'preview'>, target: string | null): ViewInfo {
  return {
    kind: 'preview',
    title: `Preview: ${r.correctionId}`,
    correctionId: r.correctionId,
    runId: null,
    runKind: null,
    status: null,
    sampleSize: r.sampleSize,
    totalRows: null,
    summary: r.summary,
    diffCount: r.diffs.length,
    planId: null,
    contentHash: null,
    message: null,
    durationMs: r.durationMs,
    target,
  };
}

async function runView(s: Services, r: RunSummary): Promise<ViewInfo> {
  const diffs = await s.ctx.request('diffs', { runId: r.id, offset: 0, limit: 1 });
  const contentHash = r.planId ? await planContentHash(s, r) : null;
  return {
    kind: 'run',
    title: `${r.kind === 'dry-run' ? 'Dry-run' : r.kind[0]!.toUpperCase() + r.kind.slice(1)}: ${r.correctionId}`,
    correctionId: r.correctionId,
    runId: r.id,
    runKind: r.kind,
    status: r.status,
    sampleSize: null,
    totalRows: r.totalRows,
    summary: r.counts,
    diffCount: diffs.total,
    planId: r.planId,
    contentHash,
    message: r.message,
    durationMs: null,
    target: targetCache,
  };
}

let targetCache: string | null = null;

/** The plan's content hash, from the dry-run's `completed` event (what a reviewer approves). */
async function planContentHash(s: Services, r: RunSummary): Promise<string | null> {
  if (r.kind !== 'dry-run' || r.status !== 'completed') return null;
  const client = await s.ctx.ensure();
  return new Promise((resolve) => {
    const timer = setTimeout(() => done(null), 3000);
    const off = client.onEvent((e) => {
      if (e.runId === r.id && e.kind === 'completed') done(typeof e.data.contentHash === 'string' ? e.data.contentHash : null);
    });
    function done(v: string | null) {
      clearTimeout(timer);
      off();
      void client.request('unsubscribe', { runId: r.id }).catch(() => undefined);
      resolve(v);
    }
    client.request('subscribe', { runId: r.id, fromSeq: 0 }).catch(() => done(null));
  });
}

async function openRunPanel(s: Services, runId: string): Promise<DiffPanel> {
  const run = await s.ctx.request('run', { runId });
  const dryRunId = run.kind === 'dry-run' ? run.id : null;
  const view = await runView(s, run);
  const panel = DiffPanel.open(
    s.ctx.ext.extensionUri,
    { key: `run:${run.id}`, view, source: daemonSource((p) => s.ctx.request('diffs', p), dryRunId ?? run.id), correctionPath: null },
    (l) => s.ctx.logs.info(l),
    () => s.ctx.settings['report.maxRows'],
  );
  return panel;
}

/** While a run's panel is open, its numbers follow the run's events. */
export function keepRunPanelsFresh(s: Services): vscode.Disposable {
  const pending = new Map<string, NodeJS.Timeout>();
  const off = s.ctx.session.onRunEvent((e) => {
    const panel = DiffPanel.forRun(e.runId);
    if (!panel || pending.has(e.runId)) return;
    pending.set(
      e.runId,
      setTimeout(() => {
        pending.delete(e.runId);
        void s.ctx
          .request('run', { runId: e.runId })
          .then((r) => runView(s, r))
          .then((v) => panel.update(v))
          .catch(() => undefined);
      }, 200),
    );
  });
  return { dispose: () => (off(), pending.forEach((t) => clearTimeout(t))) };
}

async function ensureTarget(s: Services): Promise<string> {
  if (!targetCache) targetCache = (await s.ctx.request('status', {})).target;
  return targetCache;
}

async function followAndReport(s: Services, runId: string, title: string, o: RunOptions): Promise<RunSummary> {
  void s.runsView.soon();
  s.ctx.logs.info(`following run ${runId}: ${title}`);
  const r = await followRun(s.ctx, runId, title, o);
  s.api.lastRun = r;
  s.ctx.logs.info(`run ${runId}: ${runOutcome(r)}`);
  s.runsView.soon();
  const line = `Redress: ${runOutcome(r)}`;
  const actions = r.kind === 'dry-run' && r.status === 'completed' ? ['Open Diff', 'Apply (local)'] : r.kind === 'apply' || r.kind === 'dry-run' ? ['Open Diff'] : [];
  const shown = r.status === 'completed' ? vscode.window.showInformationMessage(line, ...actions) : vscode.window.showWarningMessage(line, ...actions);
  void shown.then((pick) => {
    if (pick === 'Open Diff') void vscode.commands.executeCommand('redress.openRun', r.id);
    if (pick === 'Apply (local)') void vscode.commands.executeCommand('redress.applyLocal', undefined, { planId: r.planId });
  });
  return r;
}

async function latestPlannedDryRun(s: Services, correctionId: string): Promise<RunSummary | null> {
  const { runs } = await s.ctx.request('runs', { limit: 200 });
  return runs.find((r) => r.correctionId === correctionId && r.kind === 'dry-run' && r.status === 'completed' && r.planId) ?? null;
}

function typesFolder(s: Services): string {
  return join(correctionsDir(s.ctx.workspace), s.ctx.settings.typesFolder);
}

async function writeTableTypes(s: Services, tables: TableInfo[], kind: 'sqlite' | 'postgres', target: string) {
  const written = writeTypes(typesFolder(s), tables, kind, target, apiSource);
  s.ctx.logs.info(`row types in ${written.folder}: ${written.changed.length ? `updated ${written.changed.join(', ')}` : 'up to date'}`);
  return written;
}

/** On connect: regenerate the row types whose table's schema changed since they were generated. */
export async function refreshStaleTypes(s: Services): Promise<string[]> {
  const folder = typesFolder(s);
  if (!existsSync(folder)) return [];
  const schema = await s.ctx.request('schema', {});
  const stale = schema.tables.filter((t) => {
    const f = join(folder, typesFileName(t.table));
    return existsSync(f) && generatedFingerprint(readFileSync(f, 'utf8')) !== t.fingerprint;
  });
  if (stale.length) await writeTableTypes(s, stale, schema.kind, schema.target);
  return stale.map((t) => t.table);
}

// ---------- the handlers ----------

export const handlers: Record<CommandId, Handler> = {
  'redress.newCorrection': async (s, ...args) => {
    const o = opts<{ table?: string; id?: string }>(args, 0);
    const schema = await s.ctx.request('schema', {});
    if (schema.tables.length === 0) throw new RedressError('NO_TABLE', `The target ${schema.target} has no tables.`);
    const table =
      schema.tables.find((t) => t.table === o.table) ??
      (
        await vscode.window.showQuickPick(
          schema.tables.map((t) => ({ label: t.table, description: `${t.columns.length} columns${t.uniqueKeys[0] ? `, key ${t.uniqueKeys[0].join(', ')}` : ''}`, t })),
          { title: 'New correction: which table does it correct?' },
        )
      )?.t;
    if (!table) return undefined;
    const id = o.id ?? (await vscode.window.showInputBox({ title: 'New correction: its id (kebab-case, also the file name)', placeHolder: 'fix-release-dates', validateInput: (v) => validCorrectionId(v) }));
    if (!id) return undefined;
    const bad = validCorrectionId(id);
    if (bad) throw new RedressError('MANIFEST', bad);
    const dir = correctionsDir(s.ctx.workspace);
    const file = join(dir, `${id}.correction.ts`);
    if (existsSync(file)) throw new RedressError('CONFIG', `${relative(s.ctx.workspace, file)} exists already.`);
    await writeTableTypes(s, [table], schema.kind, schema.target);
    const typesImport = `./${relative(dir, join(typesFolder(s), typesFileName(table.table))).replace(/\\/g, '/').replace(/\.ts$/, '')}`;
    writeFileSync(file, scaffoldCorrection({ id, table, typesImport }));
    const doc = await vscode.workspace.openTextDocument(file);
    await vscode.window.showTextDocument(doc);
    s.ctx.logs.info(`scaffolded ${file} for table ${table.table} (${rowTypeName(table.table)})`);
    return file;
  },

  'redress.preview': async (s, ...args) => {
    const uri = await correctionUri(args[0]);
    const o = opts<PreviewOptions>(args, 1);
    const started = performance.now();
    const sampleSize = o.sampleSize ?? s.ctx.settings.sampleSize ?? undefined;
    let r: Result<'preview'>;
    try {
      const snapshot = o.snapshot ?? (s.ctx.settings.previewSnapshot || undefined);
      r = await s.ctx.request('preview', { correction: uri.fsPath, params: {}, ...(sampleSize ? { sampleSize } : {}), ...(o.seed !== undefined ? { seed: o.seed } : {}), ...(snapshot ? { snapshot } : {}) });
    } catch (e) {
      await s.diagnostics.fromError(uri, e);
      throw e;
    }
    await s.diagnostics.publish(uri, []);
    const snap = o.snapshot ?? (s.ctx.settings.previewSnapshot || null);
    const target = snap ? `snapshot ${snap}` : await ensureTarget(s).catch(() => null);
    const panel = DiffPanel.open(
      s.ctx.ext.extensionUri,
      { key: `preview:${uri.fsPath}`, view: previewView(r, target), source: memorySource(r.diffs), correctionPath: vscode.workspace.asRelativePath(uri) },
      (l) => s.ctx.logs.info(l),
      () => s.ctx.settings['report.maxRows'],
    );
    const rendered = panel.nextRender();
    s.ctx.logs.info(`preview ${r.correctionId}: ${r.sampleSize} rows sampled, ${r.summary.changed} changed, ${Math.round(r.durationMs)} ms in the daemon, ${Math.round(performance.now() - started)} ms to the answer`);
    void rendered.then((x) => s.ctx.logs.info(`preview ${r.correctionId}: first diff page drawn ${Math.round(x.at - started)} ms after the command`));
    return { ...r, startedAt: started, panel, rendered };
  },

  'redress.dryRun': async (s, ...args) => {
    const uri = await correctionUri(args[0]);
    const o = opts<RunOptions>(args, 1);
    const batchSize = o.batchSize ?? s.ctx.settings.batchSize ?? undefined;
    let runId: string;
    try {
      ({ runId } = await s.ctx.request('dryRun', { correction: uri.fsPath, params: {}, ...(batchSize ? { batchSize } : {}) }));
    } catch (e) {
      await s.diagnostics.fromError(uri, e);
      throw e;
    }
    await s.diagnostics.publish(uri, []);
    const name = uri.path.split('/').pop()!.replace(/\.correction\.ts$/, '');
    return followAndReport(s, runId, `Redress: dry-run of ${name}`, o);
  },

  'redress.applyLocal': async (s, ...args) => {
    const o = opts<RunOptions & { planId?: string }>(args, 1);
    let dry: RunSummary | null = null;
    if (o.planId) dry = (await s.ctx.request('runs', { limit: 200 })).runs.find((r) => r.planId === o.planId && r.kind === 'dry-run') ?? null;
    else {
      const uri = await correctionUri(args[0]);
      const id = await correctionIdOf(s, uri);
      dry = await latestPlannedDryRun(s, id);
      if (!dry) {
        const pick = await vscode.window.showWarningMessage(`${id} has no completed dry-run, so there is no plan to apply. Dry-run it first.`, 'Dry-run');
        if (pick === 'Dry-run') await vscode.commands.executeCommand('redress.dryRun', uri);
        return undefined;
      }
    }
    if (!dry?.planId) throw new RedressError('PLAN_NOT_FOUND', 'No plan to apply. Dry-run the correction first.');
    const target = await ensureTarget(s);
    if (!o.confirmed) {
      const ok = await vscode.window.showWarningMessage(
        `Apply plan ${dry.planId} of ${dry.correctionId} to ${target}? ${dry.counts.changed.toLocaleString('en-US')} row(s) will be written (compare-and-set, with before-images for rollback).`,
        { modal: true },
        'Apply',
      );
      if (ok !== 'Apply') return undefined;
    }
    const batchSize = o.batchSize ?? s.ctx.settings.batchSize ?? undefined;
    const { runId } = await s.ctx.request('apply', { planId: dry.planId, ...(batchSize ? { batchSize } : {}) });
    return followAndReport(s, runId, `Redress: applying ${dry.correctionId}`, o);
  },

  'redress.openLastRun': async (s, ...args) => {
    const uri = await correctionUri(args[0]);
    const id = await correctionIdOf(s, uri);
    const { runs } = await s.ctx.request('runs', { limit: 200 });
    const last = runs.find((r) => r.correctionId === id && (r.kind === 'dry-run' || r.kind === 'apply'));
    if (!last) {
      void vscode.window.showInformationMessage(`${id} has no runs yet. Dry-run it to make a plan.`);
      return undefined;
    }
    return openRunPanel(s, last.id);
  },

  'redress.checkCorrection': async (s, ...args) => {
    const uri = await correctionUri(args[0]);
    const r = await s.diagnostics.check(uri);
    if (r.ok) void vscode.window.setStatusBarMessage(`Redress: ${r.correctionId} compiles and its manifest is valid`, 4000);
    return r;
  },

  'redress.regenerateTypes': async (s) => {
    const schema = await s.ctx.request('schema', {});
    const written = await writeTableTypes(s, schema.tables, schema.kind, schema.target);
    void vscode.window.setStatusBarMessage(`Redress: row types for ${schema.tables.length} table(s) in ${vscode.workspace.asRelativePath(written.folder)}`, 4000);
    return written;
  },

  'redress.exportReport': async (s, ...args) => {
    const panel = DiffPanel.current();
    if (!panel) throw new RedressError('RUN_NOT_FOUND', 'Open a preview or a run first; the report is of the diff on screen.');
    const format =
      args[0] === 'markdown' || args[0] === 'html'
        ? args[0]
        : (await vscode.window.showQuickPick([{ label: 'Markdown', f: 'markdown' as const }, { label: 'HTML (self-contained)', f: 'html' as const }], { title: 'Export review report as' }))?.f;
    if (!format) return undefined;
    const to = args[1] instanceof vscode.Uri ? args[1] : typeof args[1] === 'string' ? vscode.Uri.file(args[1]) : undefined;
    return panel.export(format, to);
  },

  'redress.openRun': async (s, ...args) => openRunPanel(s, runIdOf(args[0])),

  'redress.pauseRun': async (s, ...args) => {
    const r = await s.ctx.request('pause', { runId: runIdOf(args[0]) });
    s.runsView.soon();
    return r;
  },

  'redress.resumeRun': async (s, ...args) => {
    const { runId } = await s.ctx.request('resume', { runId: runIdOf(args[0]) });
    return followAndReport(s, runId, `Redress: resuming ${runId}`, opts<RunOptions>(args, 1));
  },

  'redress.cancelRun': async (s, ...args) => {
    const r = await s.ctx.request('cancel', { runId: runIdOf(args[0]) });
    s.runsView.soon();
    return r;
  },

  'redress.verifyRun': async (s, ...args) => {
    const { runId } = await s.ctx.request('verify', { runId: runIdOf(args[0]) });
    return followAndReport(s, runId, `Redress: verifying ${runIdOf(args[0])}`, opts<RunOptions>(args, 1));
  },

  'redress.rollbackRun': async (s, ...args) => {
    const parent = runIdOf(args[0]);
    const o = opts<RunOptions>(args, 1);
    if (!o.confirmed) {
      const ok = await vscode.window.showWarningMessage(`Roll back apply run ${parent}? Its before-images are restored (rows changed since are quarantined, not overwritten).`, { modal: true }, 'Roll Back');
      if (ok !== 'Roll Back') return undefined;
    }
    const { runId } = await s.ctx.request('rollback', { runId: parent });
    return followAndReport(s, runId, `Redress: rolling back ${parent}`, o);
  },

  'redress.refreshRuns': async (s) => s.runsView.refresh(),

  'redress.showLogs': async (s) => {
    s.ctx.logs.show();
    return undefined;
  },

  'redress.restartDaemon': async (s) => {
    await s.ctx.session.restart();
    return s.ctx.state;
  },

  'redress.stopDaemon': async (s) => {
    await s.ctx.session.stopDaemon();
    return s.ctx.state;
  },
};

/** Registers every command; a failure shows one message (with logs/restart when they help) and is recorded. */
export function registerCommands(s: Services): vscode.Disposable[] {
  return (Object.keys(COMMANDS) as CommandId[]).map((id) =>
    vscode.commands.registerCommand(id, async (...args: unknown[]) => {
      s.ctx.logs.info(`command ${id}`);
      try {
        if (COMMANDS[id].needs === 'daemon') await s.ctx.ensure();
        return await handlers[id](s, ...args);
      } catch (e) {
        const err = coerceError(e);
        s.api.lastError = { code: err.code, message: err.message };
        if (err.code !== 'CANCELLED') void s.ctx.showError(err);
        return undefined;
      }
    }),
  );
}

/** What every command says in a window with no folder (the extension has no workspace to serve). */
export const NO_WORKSPACE_MESSAGE = 'Redress: open a folder with a redress.config.json (or run `redress init` in one).';

/**
 * With no folder open, activate() serves nothing, but the commands are still in the palette: each
 * says what to do instead of VS Code's generic "command not found".
 */
export function registerWithoutWorkspace(): vscode.Disposable[] {
  return (Object.keys(COMMANDS) as CommandId[]).map((id) =>
    vscode.commands.registerCommand(id, async () => {
      void vscode.window.showInformationMessage(NO_WORKSPACE_MESSAGE);
      return undefined;
    }),
  );
}
