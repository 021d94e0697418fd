// Maps zod issues in a correction's manifest to places in its source, for squiggles and messages.
import type { z } from 'zod';
import type { Diagnostic } from '../../shared/protocol';

export function manifestDiagnostics(error: z.ZodError, file: string, source: string | null): Diagnostic[] {
  return error.issues.map((issue) => {
    const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    return { severity: 'error' as const, message: issue.message, file, path, ...(source ? locate(source, path) : {}) };
  });
}

/** Finds `a: ... b: ... c:` for path [a, b, c] in the source, following the segments in order. */
export function locate(source: string, path: (string | number)[]): { line: number; column: number; length: number } | Record<string, never> {
  const start = source.search(/defineCorrection\s*(<[^>]*>)?\s*\(/);
  let at = Math.max(0, start);
  let found = -1;
  let len = 0;
  for (const seg of path) {
    if (typeof seg === 'number') continue;
    const re = new RegExp(`(["']?)\\b${seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\1\\s*:`, 'g');
    re.lastIndex = at;
    const m = re.exec(source);
    if (!m) break;
    found = m.index;
    len = m[0].replace(/\s*:$/, '').length;
    at = m.index + m[0].length;
  }
  if (found < 0) {
    if (start < 0) return {};
    found = start;
    len = 'defineCorrection'.length;
  }
  const before = source.slice(0, found);
  const line = before.split('\n').length;
  const column = found - (before.lastIndexOf('\n') + 1);
  return { line, column, length: len };
}
