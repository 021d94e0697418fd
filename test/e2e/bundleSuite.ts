// Bundles an in-host suite (and mocha) into one CommonJS file the extension host can require().
import { build } from 'esbuild';

export async function bundleSuite(entry: string, outfile: string): Promise<void> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode'],
    sourcemap: 'inline',
    logLevel: 'warning',
    // mocha's parallel mode resolves worker files at run time; in-host suites run serially.
    logOverride: { 'require-resolve-not-external': 'silent' },
  });
}
