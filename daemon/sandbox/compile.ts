// Compiles a correction file with esbuild into one self-contained script for the sandbox.
import { build, type Message } from 'esbuild';
import { resolve } from 'node:path';
import type { Diagnostic } from '../../shared/protocol';
import { sha256 } from '../../shared/values';

// The runtime of `import { defineCorrection } from 'redress'`; it mirrors shared/correction.ts
// (test/daemon/compile.test.ts checks that the two agree).
export const REDRESS_RUNTIME = `export function defineCorrection(spec) { return Object.assign(Object.create(null), spec, { $redress: 'correction' }); }`;

export interface Compiled {
  ok: boolean;
  /** CommonJS script; evaluating it sets module.exports.default to the correction. */
  code: string;
  codeHash: string;
  diagnostics: Diagnostic[];
}

export async function compileCorrection(file: string): Promise<Compiled> {
  const abs = resolve(file);
  try {
    const out = await build({
      entryPoints: [abs],
      bundle: true,
      write: false,
      format: 'cjs',
      platform: 'neutral',
      target: 'es2022',
      // import() becomes require(), which the sandbox does not have: a real import() inside the vm
      // context would reject with an error of the worker's realm, whose constructor leads out of it.
      supported: { 'dynamic-import': false },
      sourcemap: false,
      logLevel: 'silent',
      mainFields: ['module', 'main'],
      plugins: [
        {
          name: 'redress-api',
          setup(b) {
            b.onResolve({ filter: /^redress$/ }, () => ({ path: 'redress', namespace: 'redress-api' }));
            b.onLoad({ filter: /.*/, namespace: 'redress-api' }, () => ({ contents: REDRESS_RUNTIME, loader: 'js' }));
          },
        },
      ],
    });
    const code = out.outputFiles[0]!.text;
    return { ok: true, code, codeHash: sha256(code), diagnostics: out.warnings.map((w) => toDiagnostic(w, 'warning', abs)) };
  } catch (e) {
    const errors = (e as { errors?: Message[] }).errors;
    const warnings = (e as { warnings?: Message[] }).warnings ?? [];
    if (!errors) throw e;
    return {
      ok: false,
      code: '',
      codeHash: '',
      diagnostics: [...errors.map((m) => toDiagnostic(m, 'error', abs)), ...warnings.map((m) => toDiagnostic(m, 'warning', abs))],
    };
  }
}

function toDiagnostic(m: Message, severity: 'error' | 'warning', file: string): Diagnostic {
  let message = m.text;
  if (/Could not resolve "(fs|path|child_process|net|http|os|node:[a-z_]+)"/.test(m.text)) {
    message += '. Corrections are pure functions of the row: Node built-ins are not available to them.';
  }
  return {
    severity,
    message,
    file: m.location?.file ? resolve(m.location.file) : file,
    ...(m.location ? { line: m.location.line, column: m.location.column, length: m.location.length } : {}),
  };
}

/** One line per diagnostic, like a compiler: file:line:col: error: message. */
export function formatDiagnostics(ds: Diagnostic[]): string {
  return ds.map((d) => `${d.file}${d.line ? `:${d.line}:${(d.column ?? 0) + 1}` : ''}: ${d.severity}: ${d.message}`).join('\n');
}
