// The daemon's one native module (better-sqlite3) must match the Node that runs the daemon. The
// extension ships it built for one Node; for another Node it is built once from the shipped sources
// with that Node's node-gyp and headers, kept in the extension's storage, and handed to the daemon in
// REDRESS_SQLITE_BINDING. The extension host itself never loads it.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, realpathSync, renameSync, rmSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { RedressError } from '../shared/errors';
import type { NodeInfo } from './daemon';

export interface NativeOptions {
  node: NodeInfo;
  /** The extension's root: node_modules/better-sqlite3 is there. */
  extensionRoot: string;
  /** Where builds for other Nodes are kept (the extension's global storage). */
  cacheDir: string;
  log: (line: string) => void;
  /** Called before a build starts, so the editor can say why the first start takes a minute. */
  onBuild?: (what: string) => void;
  buildTimeoutMs?: number;
}

function run(file: string, args: string[], o: { cwd?: string; timeoutMs: number; env?: NodeJS.ProcessEnv }): Promise<{ ok: boolean; out: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: o.cwd, timeout: o.timeoutMs, maxBuffer: 16 * 1024 * 1024, env: o.env ?? process.env }, (err, stdout, stderr) =>
      resolve({ ok: !err, out: `${stdout}${stderr}${err && !stderr ? err.message : ''}` }),
    );
  });
}

/** Does better-sqlite3 open a database in `node` (with this addon, or the shipped one)? */
async function loads(node: string, pkg: string, binding?: string): Promise<{ ok: boolean; out: string }> {
  const opts = binding ? `{nativeBinding:${JSON.stringify(binding)}}` : '{}';
  return run(node, ['-e', `const D=require(${JSON.stringify(pkg)});new D(':memory:',${opts}).close()`], { timeoutMs: 20_000 });
}

export function bindingCachePath(cacheDir: string, n: NodeInfo): string {
  return join(cacheDir, 'better-sqlite3', `${n.version}-abi${n.abi}-${n.platform}-${n.arch}`, 'better_sqlite3.node');
}

/** node-gyp.js scripts to try: npm's own beside that Node, npm on PATH, the usual system places. */
export function nodeGypCandidates(node: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  const add = (p: string) => {
    if (existsSync(p) && !out.includes(p)) out.push(p);
  };
  const prefix = dirname(dirname(node));
  add(join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  for (const d of (env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const npm = join(d, 'npm');
    if (!existsSync(npm)) continue;
    try {
      // …/npm/bin/npm-cli.js → …/npm/node_modules/node-gyp
      add(join(dirname(dirname(realpathSync(npm))), 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
    } catch {
      /* a broken link */
    }
  }
  for (const p of ['/usr/lib/node_modules', '/usr/local/lib/node_modules', '/opt/homebrew/lib/node_modules']) add(join(p, 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  add('/usr/share/nodejs/node-gyp/bin/node-gyp.js');
  return out;
}

/** The environment the daemon needs for its SQLite module under `o.node` ({} when the shipped one loads). */
export async function sqliteBindingEnv(o: NativeOptions): Promise<NodeJS.ProcessEnv> {
  const pkg = join(o.extensionRoot, 'node_modules', 'better-sqlite3');
  if (!existsSync(join(pkg, 'package.json'))) {
    throw new RedressError('DAEMON_UNAVAILABLE', `The extension is missing its SQLite module (${pkg}). Reinstall the extension.`);
  }
  const shipped = await loads(o.node.path, pkg);
  if (shipped.ok) return {};
  const cached = bindingCachePath(o.cacheDir, o.node);
  if (existsSync(cached) && (await loads(o.node.path, pkg, cached)).ok) return { REDRESS_SQLITE_BINDING: cached };
  o.log(`the shipped SQLite module does not load in Node ${o.node.version} (ABI ${o.node.abi}): ${shipped.out.trim().split('\n').find((l) => /Error|error/.test(l)) ?? shipped.out.trim().slice(0, 300)}`);
  await build(o, pkg, cached);
  return { REDRESS_SQLITE_BINDING: cached };
}

async function build(o: NativeOptions, pkg: string, dest: string): Promise<void> {
  const what = `Building the SQLite module for Node ${o.node.version} (once; about a minute)`;
  o.onBuild?.(what);
  o.log(what);
  const gyps = nodeGypCandidates(o.node.path);
  if (gyps.length === 0) {
    throw new RedressError(
      'DAEMON_UNAVAILABLE',
      `The daemon's SQLite module must be built for Node ${o.node.version} (${o.node.path}), but no node-gyp was found (it comes with npm). Install npm, or set redress.nodePath to a Node.js 20 (the extension ships a build for ABI 115).`,
    );
  }
  const work = join(o.cacheDir, 'better-sqlite3', `build-${process.pid}-${Date.now()}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    for (const part of ['binding.gyp', 'package.json', 'src', 'deps']) cpSync(join(pkg, part), join(work, part), { recursive: true });
    const prefix = dirname(dirname(o.node.path));
    const headers = existsSync(join(prefix, 'include', 'node', 'node.h')) ? [`--nodedir=${prefix}`] : [];
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${dirname(o.node.path)}${delimiter}${process.env.PATH ?? ''}` };
    for (const k of Object.keys(env)) if (/^npm_config_(nodedir|target|runtime|disturl)$/i.test(k)) delete env[k];
    const args = [gyps[0]!, 'rebuild', '--release', `--target=${o.node.version.replace(/^v/, '')}`, `--jobs=${Math.max(1, Math.min(4, (await import('node:os')).cpus().length))}`, ...headers];
    o.log(`${o.node.path} ${args.join(' ')}   (in ${work})`);
    const r = await run(o.node.path, args, { cwd: work, timeoutMs: o.buildTimeoutMs ?? 10 * 60_000, env });
    const built = join(work, 'build', 'Release', 'better_sqlite3.node');
    if (!r.ok || !existsSync(built)) {
      const tail = r.out.trim().split('\n').slice(-12).join('\n');
      o.log(`build failed:\n${tail}`);
      throw new RedressError(
        'DAEMON_UNAVAILABLE',
        `Could not build the daemon's SQLite module for Node ${o.node.version}: ${tail.split('\n').filter((l) => /err/i.test(l)).slice(-2).join(' ') || 'see the Redress log'}. Install python3, make and a C++ compiler, or set redress.nodePath to a Node.js 20 (the extension ships a build for it).`,
      );
    }
    mkdirSync(dirname(dest), { recursive: true });
    renameSync(built, dest);
    const check = await loads(o.node.path, pkg, dest);
    if (!check.ok) {
      rmSync(dest, { force: true });
      throw new RedressError('DAEMON_UNAVAILABLE', `The SQLite module built for Node ${o.node.version} does not load: ${check.out.trim().slice(0, 300)}`);
    }
    o.log(`built ${dest}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
