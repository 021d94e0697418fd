// `npm run package`: builds, then packs the extension into a .vsix with @vscode/vsce, for this
// platform (it carries the daemon's native SQLite addon and esbuild's binary for this OS and CPU).
// Prints the file and its size. What goes in is decided by .vscodeignore.
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const target = `${process.platform === 'win32' ? 'win32' : process.platform}-${process.arch}`;
const out = process.argv[2] ?? join(root, `${pkg.name}-${pkg.version}-${target}.vsix`);
execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root, stdio: 'inherit' });
execFileSync(
  process.execPath,
  [join(root, 'node_modules', '@vscode', 'vsce', 'vsce'), 'package', '--target', target, '--out', out, '--readme-path', 'extension/README.md', '--allow-missing-repository', '--skip-license', '--allow-star-activation'],
  { cwd: root, stdio: 'inherit' },
);
const bytes = statSync(out).size;
console.log(`${out}: ${(bytes / 1024 / 1024).toFixed(1)} MiB (${bytes} bytes)`);
