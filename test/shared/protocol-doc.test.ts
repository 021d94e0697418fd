// docs/protocol.md and docs/errors.md are for people; shared/protocol.ts and shared/errors.ts are what
// runs. These tests fail when they disagree: a method, parameter, run event kind or error code added,
// renamed or removed on one side only.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { z } from 'zod';
import { ERROR_CODES } from '../../shared/errors';
import { methods, RunEventKind } from '../../shared/protocol';

const docs = join(__dirname, '..', '..', 'docs');
const protocolMd = readFileSync(join(docs, 'protocol.md'), 'utf8');
const errorsMd = readFileSync(join(docs, 'errors.md'), 'utf8');

/** The text under a heading of the given level, up to the next heading of that level or higher. */
function sections(md: string, level: number): Map<string, string> {
  const out = new Map<string, string>();
  const heading = new RegExp(`^#{1,${level}} `);
  let current: string | null = null;
  let body: string[] = [];
  const close = () => {
    if (current !== null) {
      if (out.has(current)) throw new Error(`"${'#'.repeat(level)} ${current}" appears twice`);
      out.set(current, body.join('\n'));
    }
  };
  for (const line of md.split('\n')) {
    if (heading.test(line)) {
      close();
      current = line.startsWith(`${'#'.repeat(level)} `) ? line.slice(level + 1).trim() : null;
      body = [];
    } else body.push(line);
  }
  close();
  return out;
}

/** The first cell of every table row that starts with a `code` cell, with the row's other cells. */
function codeRows(md: string): { code: string; cells: string[] }[] {
  return md
    .split('\n')
    .filter((l) => /^\|\s*`[^`]+`\s*\|/.test(l))
    .map((l) => {
      const cells = l
        .split(/(?<!\\)\|/)
        .slice(1, -1)
        .map((c) => c.trim());
      return { code: cells[0]!.replace(/`/g, ''), cells: cells.slice(1) };
    });
}

/** What is on one side only, and what is listed twice, as sentences for the failure message. */
function disagreement(what: string, documented: string[], actual: string[], where: string, source: string): string[] {
  const doc = new Set(documented);
  const act = new Set(actual);
  const problems: string[] = [];
  const missing = actual.filter((x) => !doc.has(x));
  const extra = documented.filter((x) => !act.has(x));
  const twice = documented.filter((x, i) => documented.indexOf(x) !== i);
  if (missing.length) problems.push(`${what} in ${source} but not in ${where}: ${missing.join(', ')}`);
  if (extra.length) problems.push(`${what} in ${where} but not in ${source}: ${extra.join(', ')}`);
  if (twice.length) problems.push(`${what} listed twice in ${where}: ${[...new Set(twice)].join(', ')}`);
  return problems;
}

/** The top-level keys of a method's params schema (through .default() and .optional()). */
function paramKeys(schema: z.ZodType): string[] {
  let s: z.ZodType = schema;
  while (s instanceof z.ZodDefault || s instanceof z.ZodOptional) s = s.unwrap() as z.ZodType;
  if (!(s instanceof z.ZodObject)) throw new Error('params must be an object schema');
  return Object.keys(s.shape);
}

const level2 = sections(protocolMd, 2);
const methodSections = sections(level2.get('Methods') ?? '', 3);

test('every method in shared/protocol.ts has a "### name" section under "## Methods" in docs/protocol.md, and no other', () => {
  assert.ok(level2.has('Methods'), 'docs/protocol.md has a "## Methods" section');
  const problems = disagreement('methods', [...methodSections.keys()], Object.keys(methods), 'docs/protocol.md', 'shared/protocol.ts');
  assert.deepEqual(problems, []);
});

test("each method's section names every one of its parameters, or says it has none", () => {
  const problems: string[] = [];
  for (const [name, def] of Object.entries(methods)) {
    const body = methodSections.get(name);
    if (body === undefined) continue; // reported by the test above
    const keys = paramKeys(def.params);
    if (keys.length === 0 && !/^- Params: none\b/m.test(body)) problems.push(`${name}: has no params; its section should say "- Params: none"`);
    for (const k of keys) if (!body.includes(`\`${k}\``)) problems.push(`${name}: parameter \`${k}\` is not mentioned`);
    if (!/^- Result: /m.test(body)) problems.push(`${name}: no "- Result:" line`);
  }
  assert.deepEqual(problems, []);
});

test('the run event table in docs/protocol.md lists exactly the RunEventKind values', () => {
  const events = level2.get('Run events');
  assert.ok(events, 'docs/protocol.md has a "## Run events" section');
  const documented = codeRows(events).map((r) => r.code);
  assert.deepEqual(disagreement('run event kinds', documented, [...RunEventKind.options], 'docs/protocol.md', 'RunEventKind'), []);
});

test('docs/errors.md has one table row per ERROR_CODES code, no other, each with a meaning and what to do', () => {
  const rows = codeRows(errorsMd);
  const problems = disagreement(
    'error codes',
    rows.map((r) => r.code),
    Object.keys(ERROR_CODES),
    'docs/errors.md',
    'shared/errors.ts ERROR_CODES',
  );
  for (const r of rows) {
    if (r.cells.length !== 2 || r.cells.some((c) => c.length < 10)) problems.push(`${r.code}: the row needs a meaning and what to do`);
  }
  assert.deepEqual(problems, []);
});

test('the checks notice a difference: a doc missing one method and naming one that does not exist', () => {
  const md = '# P\n## Methods\n### hello\n- Params: `protocol`, `client`\n- Result: x\n### frobnicate\n## Run events\n';
  const found = [...sections(sections(md, 2).get('Methods')!, 3).keys()];
  assert.deepEqual(found, ['hello', 'frobnicate']);
  assert.deepEqual(disagreement('methods', found, ['hello', 'status'], 'doc', 'code'), ['methods in code but not in doc: status', 'methods in doc but not in code: frobnicate']);
  assert.deepEqual(
    codeRows('| Code | Meaning |\n| --- | --- |\n| `A_B` | one \\| two | do |\n| not a code | x |').map((r) => [r.code, r.cells.length]),
    [['A_B', 2]],
  );
});
