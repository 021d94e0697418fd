// Packages an extension folder into a .vsix with @vscode/vsce (for installExtension()).
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
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

/** The file names inside a .vsix (a zip), read from its central directory. */
export function vsixEntries(file: string): string[] {
  const buf = readFileSync(file);
  // End of central directory: 22 bytes plus a comment of up to 64 KiB, at the end of the file.
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error(`${file} is not a zip file`);
  const count = buf.readUInt16LE(eocd + 10);
  let at = buf.readUInt32LE(eocd + 16);
  const names: string[] = [];
  for (let n = 0; n < count; n++) {
    if (buf.readUInt32LE(at) !== 0x02014b50) throw new Error(`${file}: bad central directory entry ${n}`);
    const nameLen = buf.readUInt16LE(at + 28);
    const extraLen = buf.readUInt16LE(at + 30);
    const commentLen = buf.readUInt16LE(at + 32);
    names.push(buf.toString('utf8', at + 46, at + 46 + nameLen));
    at += 46 + nameLen + extraLen + commentLen;
  }
  return names;
}
