// The real `redress` CLI (dist/cli.js, built by `npm test`) run as a child process, its output collected.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ROOT = join(__dirname, '..', '..');
export const CLI = join(ROOT, 'dist', 'cli.js');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node dist/cli.js -w <dir> ...args` and collects its output (asynchronously: the test's own daemon client keeps answering pings). */
export function cli(dir: string, ...args: string[]): Promise<CliResult> {
  return collect(process.execPath, [CLI, '-w', dir, ...args], existsSync(dir) ? dir : tmpdir());
}

export function collect(command: string, args: string[], cwd: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

export const said = (r: CliResult) => `exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
