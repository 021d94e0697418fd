// Bundles the daemon, the CLI and the sandbox worker with esbuild; native and binary packages stay external.
import { build } from 'esbuild';
import { cpSync, mkdirSync, chmodSync } from 'node:fs';

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: 'linked',
  external: ['better-sqlite3', 'esbuild', 'pg-native'],
  logLevel: 'warning',
};

await Promise.all([
  build({ ...common, entryPoints: ['daemon/main.ts'], outfile: 'dist/daemon.js' }),
  build({ ...common, entryPoints: ['daemon/cli/main.ts'], outfile: 'dist/cli.js', banner: { js: '#!/usr/bin/env node' } }),
  build({ ...common, entryPoints: ['daemon/sandbox/worker.ts'], outfile: 'dist/sandbox-worker.js' }),
]);
mkdirSync('dist/migrations', { recursive: true });
cpSync('daemon/ledger/migrations', 'dist/migrations', { recursive: true });
chmodSync('dist/cli.js', 0o755);
