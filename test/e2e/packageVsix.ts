// Packages an extension folder into a .vsix with @vscode/vsce (for installExtension()).
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { repoRoot } from './paths';

export async function packageVsix(extensionDir: string, outFile: string): Promise<string> {
  mkdirSync(dirname(outFile), { recursive: true });
  const vsce = join(repoRoot, 'node_modules', '@vscode', 'vsce', 'vsce');
  await new Promise<void>((resolve, reject) => {
    execFile(
      process.execPath,
      [vsce, 'package', '--no-dependencies', '--skip-license', '--allow-missing-repository', '--out', outFile],
      { cwd: extensionDir, timeout: 120_000, encoding: 'utf8' },
      (err, stdout, stderr) => (err ? reject(new Error(`vsce package failed in ${extensionDir}: ${err.message}\n${stdout}${stderr}`)) : resolve()),
    );
  });
  return outFile;
}
