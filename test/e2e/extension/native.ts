// The daemon on a Node other than the one the shipped SQLite addon was built for (Node 24 here, the
// editor's own): the extension builds the addon for it once (native.ts), the daemon loads it through
// REDRESS_SQLITE_BINDING, and a preview works; a second start reuses the build.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectOrStart, probeNode, stopDaemon } from '../../../extension/daemon';
import { sqliteBindingEnv } from '../../../extension/native';
import { node24Bin, repoRoot } from '../paths';
import { moviesWorkspace } from './workspace';

export async function nativeRebuild(): Promise<void> {
  const node = await probeNode(node24Bin);
  if (node.abi === process.versions.modules) throw new Error(`Node 24 (${node.version}) has the same ABI as this Node; nothing to test`);
  const cache = mkdtempSync(join(tmpdir(), 'redress-native-'));
  const ws = moviesWorkspace();
  const lines: string[] = [];
  try {
    const t0 = Date.now();
    let built = false;
    const env = await sqliteBindingEnv({ node, extensionRoot: repoRoot, cacheDir: cache, log: (l) => lines.push(l), onBuild: () => (built = true) });
    if (!built || !env.REDRESS_SQLITE_BINDING) throw new Error(`no build for ${node.version}: ${lines.join('\n')}`);
    console.log(`  built better-sqlite3 for Node ${node.version} (ABI ${node.abi}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const t1 = Date.now();
    let rebuilt = false;
    const again = await sqliteBindingEnv({ node, extensionRoot: repoRoot, cacheDir: cache, log: () => {}, onBuild: () => (rebuilt = true) });
    if (rebuilt || again.REDRESS_SQLITE_BINDING !== env.REDRESS_SQLITE_BINDING) throw new Error('the second start built again');
    console.log(`  second start reuses it (${Date.now() - t1} ms to check)`);
    const c = await connectOrStart({ workspace: ws.path, daemonEntry: join(repoRoot, 'dist', 'daemon.js'), node: node.path, env, ownerPid: process.pid, startTimeoutMs: 30_000, log: () => {} });
    try {
      const r = await c.client.request('preview', { correction: 'corrections/fix-release-century.correction.ts', params: {}, sampleSize: 5000 });
      if (r.summary.scanned !== 3201 || r.summary.changed !== 22) throw new Error(`preview under Node ${node.version}: ${JSON.stringify(r.summary)}`);
      console.log(`  daemon under Node ${node.version}: preview scanned ${r.summary.scanned}, changed ${r.summary.changed}`);
    } finally {
      await stopDaemon(c.client, c.info.pid);
    }
  } finally {
    ws.remove();
    rmSync(cache, { recursive: true, force: true });
  }
}
