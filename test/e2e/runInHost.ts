// Runs an extension's in-host test suite the @vscode/test-electron way, inside code-server:
// the suite is a JS bundle exporting `run(): Promise<void>`, loaded by VS Code's extension host next to
// the extension under development; its outcome comes back through the smoke-test driver's hooks.
import { copyFileSync, cpSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { format } from 'node:util';
import { launchBrowser, type Browser } from './browser';
import { startCodeServer, type CodeServer, type StartOptions } from './codeServer';
import { artifactsDir } from './paths';

export interface InHostOptions {
  /** Folder of the extension under test (the one holding its package.json). */
  extensionDevelopmentPath: string;
  /** JS file exporting `run(): Promise<void>` (a bundle: it is loaded by the extension host's Node 24). */
  extensionTestsPath: string;
  /** Folder opened as the workspace. */
  workspacePath: string;
  /** Everything (server start, workbench, suite) must finish within this. Default 180 s. */
  timeoutMs?: number;
  /** Receives each console line of the extension host and workbench. Default: printed to stdout. */
  onLog?: (line: string) => void;
  /** A running server to use; default: a fresh one, stopped at the end. */
  server?: CodeServer;
  /** How to start that fresh server (settings, env for the extension host, extra flags). */
  serverOptions?: StartOptions;
  /** Where a failing or timed-out run leaves its screenshot and VS Code logs. Default: artifacts/in-host-<time>. */
  artifactsPath?: string;
}

/** Thrown when the suite gives no exit code in time; everything it started has been stopped. */
export class InHostTimeoutError extends Error {}

interface LogFile {
  relativePath: string;
  contents: string;
}

/**
 * Resolves with the suite's exit code: 0 when `run()` resolved, 1 when it rejected (or the extension
 * host failed). Rejects with InHostTimeoutError after `timeoutMs`, or if the browser page crashes.
 */
export async function runInHost(opts: InHostOptions): Promise<number> {
  const timeoutMs = opts.timeoutMs ?? 180_000;
  const log = opts.onLog ?? ((line: string) => process.stdout.write(`[vscode] ${line}\n`));
  const extPath = absolute(opts.extensionDevelopmentPath);
  const testsPath = absolute(opts.extensionTestsPath);
  const workspace = absolute(opts.workspacePath);
  const outDir = opts.artifactsPath ?? join(artifactsDir, `in-host-${new Date().toISOString().replace(/[:.]/g, '-')}`);

  let server: CodeServer | undefined = opts.server;
  let browser: Browser | undefined;
  let timer: NodeJS.Timeout | undefined;
  let finished = false;
  // Idempotent; run() calls it again if it started something after the timeout already fired.
  const cleanup = async (): Promise<void> => {
    finished = true;
    clearTimeout(timer);
    await browser?.close();
    if (!opts.server) await server?.stop();
  };

  const stopIfFinished = async (): Promise<void> => {
    if (!finished) return;
    await cleanup();
    throw new Error('stopped: the run already timed out');
  };

  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new InHostTimeoutError(`in-host suite ${testsPath} gave no exit code within ${timeoutMs} ms`)), timeoutMs);
  });

  const run = async (): Promise<{ code: number; logs: LogFile[] }> => {
    server ??= await startCodeServer(opts.serverOptions);
    await stopIfFinished();
    browser = await launchBrowser();
    await stopIfFinished();
    const { page } = browser;
    let finish!: (result: { code: number; logs: LogFile[] }) => void;
    const exited = new Promise<{ code: number; logs: LogFile[] }>((r) => (finish = r));
    // Both hooks must exist before the workbench loads: it looks for them once, at startup.
    await page.exposeFunction('codeAutomationLog', (type: string, args: unknown[]) => {
      // VS Code passes console arguments unformatted: [format, ...values], as console.log takes them.
      const text = format(...(Array.isArray(args) ? args : [args]));
      for (const line of text.split('\n')) log(type === 'info' || type === 'log' ? line : `${type}: ${line}`);
    });
    await page.exposeFunction('codeAutomationExit', (code: number, logs?: LogFile[]) => finish({ code, logs: logs ?? [] }));
    const crashed = new Promise<never>((_, reject) => page.once('crash', () => reject(new Error('the workbench page crashed'))));
    page.on('pageerror', (err) => log(`pageerror: ${err.message}`));
    const url = server.folderUrl(workspace, [
      ['extensionDevelopmentPath', server.remoteUri(extPath)],
      ['extensionTestsPath', server.remoteUri(testsPath)],
      ['skipWelcome', 'true'],
      ['skipReleaseNotes', 'true'],
    ]);
    await page.goto(url);
    return Promise.race([exited, crashed]);
  };

  try {
    const { code, logs } = await Promise.race([run(), timedOut]);
    if (code !== 0) await saveArtifacts(outDir, browser, server, logs, log);
    return code;
  } catch (err) {
    await saveArtifacts(outDir, browser, server, [], log);
    throw err;
  } finally {
    await cleanup();
  }
}

function absolute(p: string): string {
  return isAbsolute(p) ? p : resolve(p);
}

/** A screenshot of the workbench, code-server's output and VS Code's log files, for a person to read after a failure. */
async function saveArtifacts(
  outDir: string,
  browser: Browser | undefined,
  server: CodeServer | undefined,
  logs: LogFile[],
  log: (line: string) => void,
): Promise<void> {
  try {
    mkdirSync(outDir, { recursive: true });
    if (server && existsSync(server.dirs.logPath)) copyFileSync(server.dirs.logPath, join(outDir, 'code-server.log'));
    // The remote extension host's logs (where the extension under test runs) stay on the server side.
    const serverLogs = server && join(server.dirs.userDataDir, 'logs');
    if (serverLogs && existsSync(serverLogs)) cpSync(serverLogs, join(outDir, 'server-logs'), { recursive: true });
    for (const f of logs) {
      const target = join(outDir, 'logs', f.relativePath);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, f.contents);
    }
    if (browser && !browser.page.isClosed()) {
      await browser.page.screenshot({ path: join(outDir, 'workbench.png'), timeout: 10_000 });
    }
    log(`artifacts: ${outDir}`);
  } catch (err) {
    log(`could not save artifacts to ${outDir}: ${(err as Error).message}`);
  }
}
