// `npm run test:e2e`: the Redress extension inside a real VS Code (code-server), in three parts.
//   1. in-editor suite (mocha `run()`, @vscode/test-electron's conventions) in the extension host;
//   2. UI test in Chromium: the packaged .vsix installed, commands from the palette, the diff viewer
//      read from its webview, Dry-run progress, cancelling a long run; screenshots saved;
//   3. native: the daemon's SQLite addon built for Node 24 (as on a user's first start) and used.
// Prints "N passed, N failed" and exits non-zero on any failure.
// Usage: node --import tsx test/e2e/extension/run.ts [inhost|ui ...]   (default: both)
import { join } from 'node:path';
import { bundleSuite } from '../bundleSuite';
import { artifactsDir, cacheDir, ensureSetup, repoRoot } from '../paths';
import { runInHost } from '../runInHost';
import { nativeRebuild } from './native';
import { uiTest } from './ui';
import { moviesWorkspace } from './workspace';

/** The daemon's Node in these tests: this one (Node 20, what the shipped SQLite addon is built for). */
export const DAEMON_NODE = process.execPath;

/** Figures worth quoting, printed again at the end of the run (the in-host suite's lines scroll by). */
const summary: string[] = [];

async function inHost(): Promise<void> {
  const suite = join(cacheDir, 'build', 'redress-suite.js');
  await bundleSuite(join(__dirname, 'suite.ts'), suite);
  const ws = moviesWorkspace();
  try {
    const code = await runInHost({
      extensionDevelopmentPath: repoRoot,
      extensionTestsPath: suite,
      workspacePath: ws.path,
      timeoutMs: 240_000,
      artifactsPath: join(artifactsDir, 'redress-in-host'),
      serverOptions: { settings: { 'redress.nodePath': DAEMON_NODE } },
      onLog: (line) => {
        process.stdout.write(`[vscode] ${line}\n`);
        if (line.includes('PREVIEW ROUND TRIP')) summary.push(line.trim());
      },
    });
    if (code !== 0) throw new Error(`the in-editor suite failed (exit ${code}); artifacts in ${join(artifactsDir, 'redress-in-host')}`);
  } finally {
    ws.remove();
  }
}

const parts: Record<string, () => Promise<void>> = { inhost: inHost, ui: () => uiTest((line) => summary.push(line)), native: nativeRebuild };

async function main(): Promise<number> {
  ensureSetup();
  const wanted = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(parts);
  let passed = 0;
  let failed = 0;
  const t0 = Date.now();
  for (const name of wanted) {
    const part = parts[name];
    if (!part) throw new Error(`unknown part ${name}; parts: ${Object.keys(parts).join(', ')}`);
    const started = Date.now();
    console.log(`\n== ${name}`);
    try {
      await part();
      passed++;
      console.log(`ok: ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    } catch (err) {
      failed++;
      console.error(`FAILED: ${name}: ${(err as Error).stack ?? String(err)}`);
    }
  }
  if (summary.length) console.log(`\n${summary.join('\n')}`);
  console.log(`\nvscode e2e took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
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
