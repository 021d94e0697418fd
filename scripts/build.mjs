// Bundles the daemon, the CLI and the sandbox worker with esbuild; native and binary packages stay external.
// Also the VS Code extension (dist/extension.js, `vscode` external, no native module) and its diff
// viewer's webview script (dist/webview/webview.js, for the browser).
import { build } from 'esbuild';
import { cpSync, mkdirSync, chmodSync, readFileSync } from 'node:fs';

/** `import source from 'redress:api-source'`: the text of shared/correction.ts (for generated row types). */
const apiSource = {
  name: 'redress-api-source',
  setup(b) {
    b.onResolve({ filter: /^redress:api-source$/ }, () => ({ path: 'api-source', namespace: 'redress-api-source' }));
    b.onLoad({ filter: /.*/, namespace: 'redress-api-source' }, () => ({
      contents: `export default ${JSON.stringify(readFileSync('shared/correction.ts', 'utf8'))};`,
      loader: 'js',
      watchFiles: ['shared/correction.ts'],
    }));
  },
};

/** Fails the extension's build if anything in it would load a native module. */
const noNative = {
  name: 'no-native-in-extension',
  setup(b) {
    b.onResolve({ filter: /^(better-sqlite3|bindings|esbuild|pg|pg-native)$/ }, (a) => ({ errors: [{ text: `${a.path} must not be bundled into the extension (imported from ${a.importer}); the daemon owns it` }] }));
  },
};

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
  build({
    ...common,
    entryPoints: ['extension/extension.ts'],
    outfile: 'dist/extension.js',
    target: 'node18',
    // The extension host must never load a native module: better-sqlite3 is not even resolvable here.
    external: ['vscode', 'bufferutil', 'utf-8-validate'],
    plugins: [apiSource, noNative],
  }),
  build({
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    sourcemap: 'linked',
    minify: true,
    logLevel: 'warning',
    entryPoints: ['extension/webview/main.ts'],
    outfile: 'dist/webview/webview.js',
  }),
]);
mkdirSync('dist/migrations', { recursive: true });
cpSync('daemon/ledger/migrations', 'dist/migrations', { recursive: true });
chmodSync('dist/cli.js', 0o755);
