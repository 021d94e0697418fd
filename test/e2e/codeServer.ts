// Starts and stops a real VS Code (code-server) for end-to-end tests, in a throwaway run folder.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { codeServerEntry, ensureSetup, node24Bin, node24Dir } from './paths';

/** Everything one code-server instance writes: nothing goes into the home directory. */
export interface RunDirs {
  runDir: string;
  userDataDir: string;
  extensionsDir: string;
  configPath: string;
  /** code-server's own output (stdout and stderr). */
  logPath: string;
}

export interface CodeServer {
  /** `http://127.0.0.1:PORT` (no trailing slash). */
  url: string;
  port: number;
  dirs: RunDirs;
  /** `vscode-remote://127.0.0.1:PORT/ABS/PATH`: how the browser workbench names a file on the server. */
  remoteUri(absPath: string): string;
  /** The workbench URL that opens `folder` (an absolute path on this machine). */
  folderUrl(folder: string, payload?: Array<[string, string]>): string;
  /** Stops the whole process group (extension hosts and watchers outlive the main pid). Idempotent. */
  stop(opts?: { keepRunDir?: boolean }): Promise<void>;
}

export interface StartOptions {
  /** Reuse folders made by makeRunDirs() (e.g. after installExtension()); default: a fresh set. */
  dirs?: RunDirs;
  /** How long to wait for the server to answer /healthz. Default 60 s. */
  timeoutMs?: number;
  /** Extra environment for the server and its extension host. */
  env?: NodeJS.ProcessEnv;
  /** Extra code-server flags. */
  args?: string[];
  /**
   * Pass `--vscode-option enable-smoke-test-driver` (default true). runInHost needs it for the
   * extension host's console; but with it the workbench shows no notification toasts (they only go to
   * the notification center), so UI tests that look for a toast start with false.
   */
  smokeTestDriver?: boolean;
  /** User settings merged over QUIET_SETTINGS (written to user-data/User/settings.json). */
  settings?: Record<string, unknown>;
}

/**
 * User settings for a quiet, offline workbench: no gallery queries (nothing but npm and apt is
 * reachable here), no AI/chat features, no update checks, no welcome page. Fewer log lines and less
 * work before the suite starts.
 */
export const QUIET_SETTINGS: Record<string, unknown> = {
  'chat.disableAIFeatures': true,
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'workbench.enableExperiments': false,
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'git.enabled': false,
  'github.gitAuthentication': false,
};

/** Makes a fresh run folder with empty user-data, extensions, XDG folders and a config file. */
export function makeRunDirs(): RunDirs {
  const runDir = mkdtempSync(join(tmpdir(), 'redress-vscode-e2e-'));
  const dirs: RunDirs = {
    runDir,
    userDataDir: join(runDir, 'user-data'),
    extensionsDir: join(runDir, 'extensions'),
    configPath: join(runDir, 'config.yaml'),
    logPath: join(runDir, 'code-server.log'),
  };
  for (const d of [dirs.userDataDir, dirs.extensionsDir, join(runDir, 'xdg-config'), join(runDir, 'xdg-data'), join(runDir, 'xdg-cache')]) {
    mkdirSync(d, { recursive: true });
  }
  // Port 0: code-server accepts it and prints the port it got, so no port is picked in advance.
  writeFileSync(dirs.configPath, 'bind-addr: 127.0.0.1:0\nauth: none\ncert: false\n');
  return dirs;
}

/** Node 24 first on PATH, XDG folders in the run folder, and nothing inherited that steers code-server elsewhere. */
function serverEnv(dirs: RunDirs, extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    // VSCODE_IPC_HOOK_CLI & co. (from a VS Code terminal) make code-server hand the request to that
    // editor instead of starting; PORT overrides --bind-addr; npm_* belong to whoever ran us.
    if (/^(VSCODE_|CODE_SERVER_|ELECTRON_|npm_)/i.test(k) || k === 'PORT' || k === 'NODE_OPTIONS') continue;
    env[k] = v;
  }
  return {
    ...env,
    PATH: `${join(node24Dir, 'bin')}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    XDG_CONFIG_HOME: join(dirs.runDir, 'xdg-config'),
    XDG_DATA_HOME: join(dirs.runDir, 'xdg-data'),
    XDG_CACHE_HOME: join(dirs.runDir, 'xdg-cache'),
    // No extension gallery: the default one (open-vsx) is unreachable here, and a test must not
    // depend on it anyway. Extensions come from the development path or installExtension().
    EXTENSIONS_GALLERY: '{}',
    ...extra,
  };
}

const COMMON_FLAGS = (dirs: RunDirs): string[] => [
  '--config', dirs.configPath,
  '--user-data-dir', dirs.userDataDir,
  '--extensions-dir', dirs.extensionsDir,
  '--disable-telemetry',
  '--disable-update-check',
];

/**
 * Installs a .vsix into the run folder's extensions dir (`code-server --install-extension`).
 * Call it before startCodeServer({ dirs }) so the workbench sees the extension from its first paint.
 */
export async function installExtension(vsixPath: string, dirs: RunDirs): Promise<void> {
  ensureSetup();
  await new Promise<void>((resolvePromise, reject) => {
    execFile(
      node24Bin,
      [codeServerEntry, ...COMMON_FLAGS(dirs), '--install-extension', vsixPath],
      { env: serverEnv(dirs), timeout: 120_000, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`code-server --install-extension ${vsixPath} failed: ${err.message}\n${stdout}${stderr}`));
        else if (!/was successfully installed/.test(stdout + stderr)) reject(new Error(`code-server did not install ${vsixPath}:\n${stdout}${stderr}`));
        else resolvePromise();
      },
    );
  });
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Last resort if a test forgets stop() or the process dies on an exception: no orphaned servers. */
function killGroupsOnExit(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) killGroup(child.pid, 'SIGKILL');
  });
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves when `check` returns true, polling every `everyMs`; rejects after `timeoutMs`. */
async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

function lastLines(text: string, lines = 40): string {
  return text.split('\n').slice(-lines).join('\n');
}

/**
 * Starts code-server on 127.0.0.1 with a port the kernel picks, in its own process group (setsid),
 * and resolves once GET /healthz answers. Runs setup.sh first if the tools are not installed.
 */
export async function startCodeServer(opts: StartOptions = {}): Promise<CodeServer> {
  ensureSetup();
  const dirs = opts.dirs ?? makeRunDirs();
  mkdirSync(join(dirs.userDataDir, 'User'), { recursive: true });
  writeFileSync(join(dirs.userDataDir, 'User', 'settings.json'), JSON.stringify({ ...QUIET_SETTINGS, ...opts.settings }, null, 2));
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const log = createWriteStream(dirs.logPath);
  let output = ''; // what code-server printed, for the error message if it does not come up
  const child = spawn(
    node24Bin,
    [
      codeServerEntry,
      ...COMMON_FLAGS(dirs),
      '--bind-addr', '127.0.0.1:0',
      '--auth', 'none',
      '--disable-workspace-trust',
      '--disable-getting-started-override',
      '--ignore-last-opened',
      ...(opts.smokeTestDriver === false ? [] : ['--vscode-option', 'enable-smoke-test-driver']),
      ...(opts.args ?? []),
    ],
    // detached: the child calls setsid(), so its pid is the id of a new process group we can kill whole.
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: serverEnv(dirs, opts.env) },
  );
  live.add(child);
  killGroupsOnExit();

  let stopped = false;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async (stopOpts: { keepRunDir?: boolean } = {}): Promise<void> => {
    if (!stopped) {
      stopped = true;
      const pid = child.pid;
      if (pid !== undefined) {
        killGroup(pid, 'SIGTERM');
        try {
          await waitUntil('code-server to stop', () => !groupAlive(pid), 5_000);
        } catch {
          killGroup(pid, 'SIGKILL');
          await waitUntil('code-server to die after SIGKILL', () => !groupAlive(pid), 5_000);
        }
      }
      live.delete(child);
      await Promise.race([exited, new Promise((r) => setTimeout(r, 1_000))]);
      log.end();
    }
    if (!stopOpts.keepRunDir && !process.env.VSCODE_E2E_KEEP) rmSync(dirs.runDir, { recursive: true, force: true });
  };

  try {
    const port = await new Promise<number>((resolvePort, reject) => {
      let listening = false;
      const timer = setTimeout(() => reject(new Error(`code-server printed no listening address within ${timeoutMs} ms`)), timeoutMs);
      const onData = (chunk: Buffer): void => {
        log.write(chunk);
        output = (output + chunk.toString('utf8')).slice(-20_000);
        const m = listening ? null : /HTTP server listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
        if (m) {
          listening = true;
          clearTimeout(timer);
          resolvePort(Number(m[1]));
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`code-server exited (code ${code}, signal ${signal}) before listening`));
      });
    });
    const url = `http://127.0.0.1:${port}`;
    await waitUntil(
      `${url}/healthz`,
      async () => {
        try {
          const res = await fetch(`${url}/healthz`);
          return res.ok;
        } catch {
          return false;
        }
      },
      timeoutMs,
    );
    const authority = `127.0.0.1:${port}`;
    const remoteUri = (absPath: string): string => `vscode-remote://${authority}${encodeURI(absPath)}`;
    return {
      url,
      port,
      dirs,
      remoteUri,
      folderUrl: (folder, payload) => {
        let u = `${url}/?folder=${encodeURIComponent(folder)}`;
        if (payload) u += `&payload=${encodeURIComponent(JSON.stringify(payload))}`;
        return u;
      },
      stop,
    };
  } catch (err) {
    await stop({ keepRunDir: true });
    throw new Error(`${(err as Error).message}\n--- code-server output (${dirs.logPath}) ---\n${lastLines(output)}`);
  }
}
