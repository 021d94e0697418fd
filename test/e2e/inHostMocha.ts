// The entry of an in-host suite bundle: `export const run = mochaRun(() => { myTests(); })`.
// Same contract as a @vscode/test-electron suite (`run(): Promise<void>`), so the bundle also runs there.
import Mocha from 'mocha';

export interface MochaRunOptions {
  /** Per-test timeout. Default 20 s: the first command can wait for the extension to activate. */
  timeout?: number;
  /** Only run tests whose full title matches. Default: MOCHA_GREP from the extension host's environment. */
  grep?: string;
}

/**
 * Returns the `run()` that VS Code calls in the extension host. `defineTests` is called once mocha's
 * `describe`/`it` globals exist, so test files export functions that declare their tests.
 * `run()` rejects when any test failed, which makes VS Code exit with code 1.
 */
export function mochaRun(defineTests: () => void, opts: MochaRunOptions = {}): () => Promise<void> {
  return () =>
    new Promise<void>((resolve, reject) => {
      const mocha = new Mocha({ ui: 'bdd', color: false, reporter: 'spec', timeout: opts.timeout ?? 20_000 });
      const grep = opts.grep ?? process.env.MOCHA_GREP;
      if (grep) mocha.grep(grep);
      // What `mocha.addFile` + `loadFiles` would do, for tests that are already in the bundle.
      mocha.suite.emit('pre-require', globalThis, 'in-host-bundle', mocha);
      try {
        defineTests();
      } catch (err) {
        reject(err);
        return;
      }
      mocha.run((failures) => (failures > 0 ? reject(new Error(`${failures} test(s) failed`)) : resolve()));
    });
}
