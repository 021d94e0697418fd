// The extension's context: owns the daemon connection (start, stop, restart, dispose), the settings,
// the logs and the status bar, with one cleanup list for the extension's lifetime (the vscode
// ExtensionContext's) and one per connection (DaemonSession's). rust-analyzer's ctx.ts is the model.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { CONFIG_FILE } from '../shared/config';
import { coerceError, RedressError } from '../shared/errors';
import type { Method, Params, Result } from '../shared/protocol';
import { readSettings, restartNeeded, SECTION, type Settings } from './config';
import { connectOrStart, daemonLogPath, findNode, isAlive, readDaemonInfo, stopDaemon, type Connected } from './daemon';
import { Logs } from './logs';
import { sqliteBindingEnv } from './native';
import { DaemonSession, type DaemonState } from './session';
import { StatusBar } from './statusBar';

/** Requests that may legitimately take long get the long timeout; the rest must answer quickly. */
const QUICK: ReadonlySet<Method> = new Set<Method>(['hello', 'status', 'runs', 'run', 'pause', 'cancel', 'subscribe', 'unsubscribe', 'shutdown']);

function sqliteEnvKey(node: { path: string; version: string }, ext: vscode.ExtensionContext): string {
  return `sqliteEnv:${node.path}:${node.version}:${ext.extension.packageJSON.version as string}`;
}

export class Ctx implements vscode.Disposable {
  readonly logs = new Logs();
  readonly statusBar = new StatusBar();
  readonly session: DaemonSession;
  settings: Settings;
  private readonly changeListeners = new vscode.EventEmitter<DaemonState>();
  readonly onState = this.changeListeners.event;

  constructor(
    readonly ext: vscode.ExtensionContext,
    readonly workspace: string,
  ) {
    const read = readSettings((k) => vscode.workspace.getConfiguration(SECTION).get(k));
    this.settings = read.settings;
    for (const p of read.problems) this.logs.error(`setting ${p.key} is invalid (${p.message}); using its default`);
    this.session = new DaemonSession({
      connect: (progress) => this.connect(progress),
      stopDaemon: (c) => this.stopDaemonProcess(c),
      log: (l) => this.logs.info(l),
    });
    this.session.onState((s) => {
      this.statusBar.show(s);
      // The daemon has made .redress/ by now: follow its log if that failed at activation.
      if (s.kind === 'connected') this.logs.follow(daemonLogPath(workspace));
      this.changeListeners.fire(s);
      if (s.kind === 'down' && s.gaveUp) void this.offerLogs(s.message);
    });
    this.logs.follow(daemonLogPath(workspace));
    ext.subscriptions.push(
      this.logs,
      this.statusBar,
      this.changeListeners,
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration(SECTION)) void this.settingsChanged();
      }),
    );
  }

  get state(): DaemonState {
    return this.session.state;
  }

  /** The connected client, starting the daemon if needed (commands call this). */
  ensure(): Promise<import('../shared/client').DaemonClient> {
    return this.session.ensure();
  }

  /** One request with a timeout; errors come back as RedressError with a message to show. */
  async request<M extends Method>(method: M, params: Params<M>): Promise<Result<M>> {
    const client = await this.ensure();
    const seconds = QUICK.has(method) ? Math.min(15, this.settings['daemon.requestTimeoutSeconds']) : this.settings['daemon.requestTimeoutSeconds'];
    return client.request(method, params, { timeoutMs: seconds * 1000 });
  }

  private async connect(progress: (detail: string) => void): Promise<Connected> {
    if (!existsSync(join(this.workspace, CONFIG_FILE))) {
      throw new RedressError('CONFIG', `${this.workspace} has no ${CONFIG_FILE}. Create one (\`redress init --sqlite <file>\` or \`redress init --postgres <url> --schema <name>\`, or by hand: {"target": {"kind": "sqlite", "path": "data.sqlite"}}) and try again.`);
    }
    progress('finding Node.js');
    const node = await findNode(this.settings.nodePath);
    this.logs.info(`daemon Node: ${node.path} (${node.version}, ABI ${node.abi})`);
    const info = readDaemonInfo(this.workspace);
    // A daemon already running (another window, the CLI) brings its own SQLite module.
    let env: NodeJS.ProcessEnv = {};
    if (!info || !isAlive(info.pid)) {
      // Which SQLite module works with this Node is remembered per Node and extension version
      // (checking costs a Node start); a remembered build that has gone missing is checked again.
      const key = sqliteEnvKey(node, this.ext);
      const known = this.ext.globalState.get<NodeJS.ProcessEnv>(key);
      if (known && (!known.REDRESS_SQLITE_BINDING || existsSync(known.REDRESS_SQLITE_BINDING))) env = known;
      else {
        progress('checking the SQLite module');
        env = await this.withBuildNotice((onBuild) =>
          sqliteBindingEnv({ node, extensionRoot: this.ext.extensionPath, cacheDir: this.ext.globalStorageUri.fsPath, log: (l) => this.logs.info(l), onBuild }),
        );
        await this.ext.globalState.update(key, env);
      }
    }
    progress('starting the daemon');
    return connectOrStart({
      workspace: this.workspace,
      daemonEntry: join(this.ext.extensionPath, 'dist', 'daemon.js'),
      node: node.path,
      env,
      ownerPid: process.pid,
      idleMs: this.settings['daemon.idleMinutes'] * 60_000,
      startTimeoutMs: this.settings['daemon.startTimeoutSeconds'] * 1000,
      clientName: `redress-vscode ${vscode.version}`,
      log: (l) => this.logs.info(l),
    }).catch(async (e: unknown) => {
      // Forget what was remembered about the SQLite module if that is what failed: check again next time.
      if (/SQLite module does not load/.test(coerceError(e).message)) await this.ext.globalState.update(sqliteEnvKey(node, this.ext), undefined);
      throw e;
    });
  }

  /** Runs `fn`; if it starts building the native module, shows a progress notification meanwhile. */
  private async withBuildNotice<T>(fn: (onBuild: (what: string) => void) => Promise<T>): Promise<T> {
    let finish: () => void = () => {};
    const onBuild = (what: string) => {
      void vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Redress: ${what}` }, () => new Promise<void>((r) => (finish = r)));
    };
    try {
      return await fn(onBuild);
    } finally {
      finish();
    }
  }

  private async stopDaemonProcess(c: Connected | null): Promise<void> {
    const pid = c?.info.pid ?? readDaemonInfo(this.workspace)?.pid;
    if (pid && isAlive(pid)) {
      this.logs.info(`stopping daemon pid ${pid}`);
      await stopDaemon(c?.client ?? null, pid);
    }
  }

  private async settingsChanged(): Promise<void> {
    const before = this.settings;
    const read = readSettings((k) => vscode.workspace.getConfiguration(SECTION).get(k));
    this.settings = read.settings;
    for (const p of read.problems) this.logs.error(`setting ${p.key} is invalid (${p.message}); using its default`);
    const changed = restartNeeded(before, this.settings);
    if (changed.length && this.session.state.kind === 'connected') {
      const pick = await vscode.window.showInformationMessage(`Redress: ${changed.map((k) => `redress.${k}`).join(', ')} takes effect when the daemon restarts.`, 'Restart Daemon');
      if (pick === 'Restart Daemon') await this.restart();
    }
  }

  async restart(): Promise<void> {
    try {
      await this.session.restart();
    } catch (e) {
      void this.showError(e);
    }
  }

  private offering = false;
  private async offerLogs(message: string): Promise<void> {
    if (this.offering) return;
    this.offering = true;
    try {
      const pick = await vscode.window.showErrorMessage(`Redress: ${message} It is not restarted again automatically.`, 'Open Logs', 'Restart Daemon');
      if (pick === 'Open Logs') this.logs.show();
      else if (pick === 'Restart Daemon') await this.restart();
    } finally {
      this.offering = false;
    }
  }

  /** Shows an error with the actions that fit it; never throws. */
  async showError(e: unknown): Promise<void> {
    const err = coerceError(e);
    this.logs.error(`${err.code}: ${err.message}`);
    const actions = err.code === 'DAEMON_UNAVAILABLE' ? ['Open Logs', 'Restart Daemon'] : err.code === 'INTERNAL' ? ['Open Logs'] : [];
    const pick = await vscode.window.showErrorMessage(`Redress: ${err.message}`, ...actions);
    if (pick === 'Open Logs') this.logs.show();
    else if (pick === 'Restart Daemon') await this.restart();
  }

  dispose(): void {
    void this.session.dispose();
  }
}
