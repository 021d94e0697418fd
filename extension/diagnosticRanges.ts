// Where a daemon Diagnostic goes in the file (pure; diagnostics.ts turns it into vscode types).
// esbuild gives 1-based lines and 0-based columns; manifest problems come located by their zod path
// (daemon/sandbox/manifestErrors.ts) or, when they have no place, on the defineCorrection call.
import type { Diagnostic } from '../shared/protocol';

export interface PlainRange {
  startLine: number;
  startCharacter: number;
  endLine: number;
  endCharacter: number;
}

export function diagnosticRange(d: Diagnostic, lines: readonly string[]): PlainRange {
  if (d.line !== undefined && d.line >= 1) {
    const line = Math.min(d.line - 1, Math.max(0, lines.length - 1));
    const text = lines[line] ?? '';
    const start = Math.min(d.column ?? 0, text.length);
    const end = d.length && d.length > 0 ? Math.min(start + d.length, text.length) : text.length;
    return { startLine: line, startCharacter: start, endLine: line, endCharacter: Math.max(end, start + (start < text.length ? 1 : 0)) };
  }
  const at = lines.findIndex((l) => /defineCorrection/.test(l));
  const line = at >= 0 ? at : 0;
  const col = at >= 0 ? lines[at]!.indexOf('defineCorrection') : 0;
  return { startLine: line, startCharacter: col, endLine: line, endCharacter: at >= 0 ? col + 'defineCorrection'.length : (lines[0]?.length ?? 0) };
}

/** The message as shown: manifest problems name their path (`options.batchSize: …`). */
export function diagnosticMessage(d: Diagnostic): string {
  return d.path && d.path.length ? `${d.path.join('.')}: ${d.message}` : d.message;
}

/** The line of `defineCorrection(` (where CodeLenses go), or 0. */
export function defineCorrectionLine(lines: readonly string[]): number {
  const i = lines.findIndex((l) => /defineCorrection\s*(<|\()/.test(l));
  return i >= 0 ? i : 0;
}
