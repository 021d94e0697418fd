// Proves the VS Code e2e harness on a throwaway extension (fixtures/hello-extension):
//   1. a passing in-host suite exits 0;
//   2. a failing in-host suite exits 1;
//   3. a suite that never finishes is stopped by the overall timeout, leaving no process behind;
//   4. UI smoke: the extension installed from a .vsix, its command run from the palette (F1), and a
//      screenshot saved to .cache/vscode-e2e/artifacts/.
// Usage: npx tsx test/e2e/selfcheck.ts        (installs the tools first if needed; exits 1 on any failure)
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchBrowser } from './browser';
import { bundleSuite } from './bundleSuite';
import { installExtension, makeRunDirs, startCodeServer } from './codeServer';
import { packageVsix } from './packageVsix';
import { artifactsDir, cacheDir, ensureSetup } from './paths';
import { InHostTimeoutError, runInHost } from './runInHost';
import { openWorkbench, runFromPalette, waitForNotification } from './workbench';

const fixtureExt = join(__dirname, 'fixtures', 'hello-extension');
const fixtureWorkspace = join(__dirname, 'fixtures', 'workspace');

/** A copy of the fixture workspace named `workspace`, so a run never writes into the repo. */
function freshWorkspace(): { path: string; remove: () => void } {
  const parent = mkdtempSync(join(tmpdir(), 'redress-vscode-e2e-ws-'));
  const path = join(parent, 'workspace');
  cpSync(fixtureWorkspace, path, { recursive: true });
  return { path, remove: () => rmSync(parent, { recursive: true, force: true }) };
}

/** Where a run that fails on purpose leaves its artifacts: one fixed folder per check, emptied first. */
function selfcheckArtifacts(name: string): string {
  const dir = join(artifactsDir, `selfcheck-${name}`);
  rmSync(dir, { recursive: true, force: true });
  return dir;
}

async function expectInHostExit(suite: string, expected: number): Promise<void> {
  const ws = freshWorkspace();
  try {
    const code = await runInHost({
      extensionDevelopmentPath: fixtureExt,
      extensionTestsPath: join(fixtureExt, 'out', 'test', `${suite}.js`),
      workspacePath: ws.path,
      timeoutMs: 120_000,
      artifactsPath: selfcheckArtifacts(suite),
    });
    if (code !== expected) throw new Error(`${suite}: VS Code exited ${code}, expected ${expected}`);
  } finally {
    ws.remove();
  }
}

async function expectTimeout(): Promise<void> {
  const ws = freshWorkspace();
  const started = Date.now();
  try {
    const code = await runInHost({
      extensionDevelopmentPath: fixtureExt,
      extensionTestsPath: join(fixtureExt, 'out', 'test', 'hangingSuite.js'),
      workspacePath: ws.path,
      timeoutMs: 25_000,
      onLog: () => undefined,
      artifactsPath: selfcheckArtifacts('hangingSuite'),
    });
    throw new Error(`a hanging suite returned exit code ${code} instead of timing out`);
  } catch (err) {
    if (!(err instanceof InHostTimeoutError)) throw err;
    console.log(`  timed out as expected after ${((Date.now() - started) / 1000).toFixed(1)} s: ${err.message}`);
  } finally {
    ws.remove();
  }
  const left = leftoverProcesses();
  if (left.length > 0) throw new Error(`processes left after the timeout:\n${left.join('\n')}`);
}

/**
 * Processes of this selfcheck still alive. Other test runs on the machine use the same cache and
 * profile names, so processes are told apart by a marker in the environment, which code-server, its
 * extension hosts and chromium all inherit from this process.
 */
const RUN_MARKER = `REDRESS_E2E_SELFCHECK=${process.pid}-${Date.now()}`;
process.env.REDRESS_E2E_SELFCHECK = RUN_MARKER.split('=')[1];

function leftoverProcesses(): string[] {
  const left: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    if (Number(pid) === process.pid) continue;
    try {
      const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      if (!env.includes(RUN_MARKER)) continue;
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes('/@esbuild/')) continue; // bundleSuite's esbuild service: ours, by design, until exit
      left.push(`${pid} ${cmd.slice(0, 160)}`);
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return left;
}

async function uiSmoke(): Promise<void> {
  const vsix = await packageVsix(fixtureExt, join(cacheDir, 'build', 'hello-extension.vsix'));
  const dirs = makeRunDirs();
  await installExtension(vsix, dirs);
  // No smoke-test driver: with it, VS Code sends notifications to the center instead of showing toasts.
  const server = await startCodeServer({ dirs, smokeTestDriver: false });
  const browser = await launchBrowser();
  const ws = freshWorkspace();
  const screenshot = join(artifactsDir, 'ui-smoke.png');
  try {
    await openWorkbench(browser.page, server, ws.path);
    await runFromPalette(browser.page, 'Hello Extension: Say Hello');
    const text = await waitForNotification(browser.page, 'Hello from hello-extension in workspace');
    console.log(`  notification: ${JSON.stringify(text.split('\n')[0])}`);
  } finally {
    await browser.page.screenshot({ path: screenshot }).catch(() => undefined);
    console.log(`  screenshot: ${screenshot}`);
    await browser.close();
    await server.stop();
    ws.remove();
  }
}

async function main(): Promise<number> {
  const t0 = Date.now();
  ensureSetup();
  console.log(`setup checked in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  for (const suite of ['suite', 'failingSuite', 'hangingSuite']) {
    await bundleSuite(join(fixtureExt, 'test', `${suite}.js`), join(fixtureExt, 'out', 'test', `${suite}.js`));
  }

  const checks: Array<[string, () => Promise<void>]> = [
    ['passing in-host suite exits 0', () => expectInHostExit('suite', 0)],
    ['failing in-host suite exits 1', () => expectInHostExit('failingSuite', 1)],
    ['a hanging in-host suite times out and leaves no process', expectTimeout],
    ['UI smoke: command from the palette, screenshot', uiSmoke],
  ];
  let passed = 0;
  let failed = 0;
  for (const [name, check] of checks) {
    const started = Date.now();
    console.log(`\n== ${name}`);
    try {
      await check();
      passed++;
      console.log(`ok: ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    } catch (err) {
      failed++;
      console.error(`FAILED: ${name}: ${(err as Error).stack ?? String(err)}`);
    }
  }
  console.log(`\nselfcheck took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
