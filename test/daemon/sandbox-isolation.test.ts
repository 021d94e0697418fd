// A correction runs in a vm context inside a worker thread (DESIGN point 10, "nothing reachable that
// should not be"). Any object or function of the worker's own realm that the correction can touch leads,
// through `.constructor.constructor`, to the worker's Function, which compiles code that sees `process`
// (and on Node 20 `process.getBuiltinModule('fs')`). Each case below tries one way out, through a real
// daemon, and the correction reports what it found; the isolation holds if every way is blocked, while
// ordinary corrections work as before.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { compileCorrection } from '../../daemon/sandbox/compile';
import { Sandbox } from '../../daemon/sandbox/sandbox';
import type { RowDiff } from '../../shared/protocol';
import { dryRun, makeWorkspace, startTestDaemon, waitForRun, type RunningDaemon, type Workspace } from '../helpers/harness';

let ws: Workspace;
let d: RunningDaemon;

/**
 * Helpers compiled into every probing correction. `reach(f)` runs one escape attempt: ESCAPED if it
 * produced the worker's process (or a require), else why it was blocked. `foreign(roots)` walks every
 * object reachable from the roots (own properties, accessors, prototypes; getters are not called) and
 * names the first one whose prototype chain does not end in this context's Object.prototype.
 */
const PROBE_LIB = `
const P = 'return process';
function reach(f: () => unknown): string {
  try {
    const p = f() as any;
    if (p && (typeof p.pid === 'number' || typeof p.getBuiltinModule === 'function' || typeof p.resolve === 'function')) return 'ESCAPED';
    return 'blocked: got ' + typeof p;
  } catch (e: any) {
    return 'blocked: ' + (e && e.name) + ': ' + (e && e.message);
  }
}
function foreign(roots: Record<string, unknown>, limit = 20000): string {
  const seen = new Set<unknown>();
  const queue: [unknown, string][] = Object.entries(roots).map(([k, v]) => [v, k]);
  while (queue.length && seen.size < limit) {
    const [o, path] = queue.shift()!;
    if (o === null || (typeof o !== 'object' && typeof o !== 'function') || seen.has(o)) continue;
    seen.add(o);
    let root: any = o;
    for (let p = Object.getPrototypeOf(root); p !== null; p = Object.getPrototypeOf(root)) root = p;
    if (root !== o && root !== Object.prototype) return 'FOREIGN: ' + path;
    for (const k of Reflect.ownKeys(o as object)) {
      const desc = Object.getOwnPropertyDescriptor(o, k)!;
      const name = path + '.' + String(k);
      if ('value' in desc) queue.push([desc.value, name]);
      if (desc.get) queue.push([desc.get, name + '<get>']);
      if (desc.set) queue.push([desc.set, name + '<set>']);
    }
    queue.push([Object.getPrototypeOf(o), path + '.__proto__']);
  }
  return 'clean: ' + seen.size + ' objects';
}
`;

/** One escape attempt per row: the row's \`probe\` names it; the transform writes the outcome to \`result\`. */
const PROBES: Record<string, string> = {
  'the global object': `reach(() => (globalThis as any).constructor.constructor(P)())`,
  'the ctx object': `reach(() => ctx.constructor.constructor(P)())`,
  'ctx.skip': `reach(() => ctx.skip.constructor(P)())`,
  'ctx.quarantine': `reach(() => ctx.quarantine.constructor(P)())`,
  'ctx.random': `reach(() => ctx.random.constructor(P)())`,
  'ctx.now': `reach(() => ctx.now.constructor.constructor(P)())`,
  'ctx.params': `reach(() => ctx.params.constructor.constructor(P)())`,
  'what ctx.skip returns': `reach(() => (ctx.skip('x') as any).constructor.constructor(P)())`,
  'console.log': `reach(() => console.log.constructor(P)())`,
  'the console object': `reach(() => (console as any).constructor.constructor(P)())`,
  'the row object': `reach(() => row.constructor.constructor(P)())`,
  'a blob value': `reach(() => row.bytes.constructor.constructor(P)())`,
  "a blob value's buffer": `reach(() => row.bytes.buffer.constructor.constructor(P)())`,
  'Date': `reach(() => Date.constructor(P)())`,
  'Date.now': `reach(() => Date.now.constructor(P)())`,
  'a new Date': `reach(() => new Date().constructor.constructor(P)())`,
  'Math.random': `reach(() => Math.random.constructor(P)())`,
  'the module object': `reach(() => moduleSeen.constructor.constructor(P)())`,
  'eval': `reach(() => (0, eval)(P.replace('return ', '')))`,
  'new Function': `reach(() => new Function(P)())`,
  'an error thrown by a built-in': `reach(() => { try { (null as any).x; } catch (e: any) { return e.constructor.constructor(P)(); } })`,
  'a stack overflow': `reach(() => { try { const f = (): unknown => f(); f(); } catch (e: any) { return e.constructor.constructor(P)(); } })`,
  'the error of a dynamic import()': `reach(() => { if (!importError) return 'no error caught yet'; return importError.constructor.constructor(P)(); })`,
  'WebAssembly': `reach(() => { try { new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])); return 'compiled'; } catch (e: any) { return e.constructor.constructor(P)(); } })`,
  'the caller of the transform': `reach(() => { const c = (transformFn as any).caller; return c ? c.constructor(P)() : 'no caller'; })`,
  'stack frames (Error.prepareStackTrace)': `(() => {
    const saved = (Error as any).prepareStackTrace;
    (Error as any).prepareStackTrace = (_e: unknown, frames: any[]) => frames;
    const frames = new Error('x').stack as any;
    (Error as any).prepareStackTrace = saved;
    const fns: Record<string, unknown> = { frames };
    frames.forEach((f: any, i: number) => { fns['fn' + i] = f.getFunction(); fns['this' + i] = f.getThis(); });
    return foreign(fns) + ' / ' + reach(() => frames.constructor.constructor(P)());
  })()`,
  'everything reachable from the transform': `foreign({ globalThis, row, ctx, console, Date, Math, skipped: ctx.skip('x'), now: new Date(), moduleSeen })`,
};

const PROBE_CORRECTION = `import { defineCorrection } from 'redress';
${PROBE_LIB}
const moduleSeen: any = typeof module === 'object' ? module : {};
let importError: any = null;
const name = 'node:f' + 's';
import(name).catch((e: unknown) => { importError = e; });
function transformFn(row: any, ctx: any) {
  switch (row.probe) {
${Object.entries(PROBES)
  .map(([name, code]) => `    case ${JSON.stringify(name)}: return { result: ${code} };`)
  .join('\n')}
  }
  return ctx.skip('no such probe');
}
export default defineCorrection({
  id: 'probe-escapes', description: 'tries every way out of the sandbox',
  target: { table: 'probes', key: 'id' }, expects: { probe: 'text', result: 'text' },
  transform: transformFn as never,
  options: { quarantineThreshold: 1 },
});`;

/** The invariants' arguments are objects the correction can reach as well: a row that escapes is quarantined. */
const INVARIANT_CORRECTION = `import { defineCorrection } from 'redress';
${PROBE_LIB}
export default defineCorrection({
  id: 'probe-invariant-arguments', description: 'tries the way out through the arguments of an invariant',
  target: { table: 'probes', key: 'id' }, expects: { result: 'text' },
  transform: (row: any) => ({ result: 'checked ' + row.id }),
  invariants: {
    'after and before belong to the correction': (after: any, before: any) =>
      foreign({ after, before }).startsWith('clean') &&
      !reach(() => after.constructor.constructor(P)()).startsWith('ESCAPED') &&
      !reach(() => before.constructor.constructor(P)()).startsWith('ESCAPED'),
  },
  options: { quarantineThreshold: 1 },
});`;

before(async () => {
  ws = makeWorkspace((db) => {
    db.exec('CREATE TABLE probes (id INTEGER PRIMARY KEY, probe TEXT NOT NULL, bytes BLOB, big INTEGER, result TEXT)');
    const ins = db.prepare('INSERT INTO probes VALUES (?, ?, ?, ?, NULL)');
    Object.keys(PROBES).forEach((name, i) => ins.run(i + 1, name, Buffer.from([1, 2, 3]), 2n ** 60n));
  });
  d = await startTestDaemon(ws);
});
after(async () => {
  await d?.stop();
  ws?.cleanup();
});

describe('a correction cannot reach the worker: every way out is blocked', () => {
  let rows: RowDiff[] = [];
  before(async () => {
    const file = ws.correction('probe-escapes', PROBE_CORRECTION);
    const dry = await dryRun(d.client, file);
    rows = (await d.client.request('diffs', { runId: dry.id, offset: 0, limit: 1000 })).rows;
    assert.equal(rows.length, Object.keys(PROBES).length, 'one outcome per probe');
  });

  Object.keys(PROBES).forEach((name, i) => {
    test(`through ${name}`, () => {
      const row = rows.find((r) => (r.key.id as { $int: string }).$int === String(i + 1))!;
      assert.equal(row.status, 'changed', `quarantined: ${row.reason}`);
      const outcome = String(row.changes.result!.after);
      assert.doesNotMatch(outcome, /ESCAPED|FOREIGN/, outcome);
      assert.match(outcome, /^(blocked|clean)/, outcome);
    });
  });

  test('through the arguments of an invariant', async () => {
    const dry = await dryRun(d.client, ws.correction('probe-invariant-arguments', INVARIANT_CORRECTION));
    const q = await d.client.request('diffs', { runId: dry.id, status: 'quarantined', offset: 0, limit: 1 });
    assert.equal(dry.counts.quarantined, 0, `an invariant reached the worker: ${q.rows[0]?.reason}`);
    assert.equal(dry.counts.changed, Object.keys(PROBES).length);
  });
});

describe('isolation keeps ordinary corrections working', () => {
  test('rows, ctx, Date and console are ordinary objects of the correction: instanceof, JSON and the fixed clock work', async () => {
    const file = ws.correction(
      'ordinary',
      `import { defineCorrection } from 'redress';
export default defineCorrection<{ id: number; probe: string; bytes: Uint8Array; big: bigint; result: string | null }>({
  id: 'ordinary', description: 'x', target: { table: 'probes', key: 'id' }, expects: { bytes: 'blob', big: 'integer', result: 'text' },
  transform(row, ctx) {
    console.log('row', row.id, row);
    const checks = [
      row instanceof Object, row.bytes instanceof Uint8Array, Array.from(row.bytes).join(',') === '1,2,3',
      typeof row.big === 'bigint' && row.big === 2n ** 60n, Object.isFrozen(row), ctx.now instanceof Date,
      new Date().constructor.now() === ctx.now.getTime(), Date.now() === ctx.now.getTime(),
      JSON.stringify({ ...row, bytes: undefined, big: String(row.big) }).includes('"probe"'),
      ctx.params instanceof Object && ctx.params.greeting === 'hello',
      ctx.random() === Math.random() ? false : true,
    ];
    return { result: checks.map((c) => (c ? 1 : 0)).join('') };
  },
});`,
    );
    const { runId } = await d.client.request('dryRun', { correction: file, params: { greeting: 'hello' } });
    const dry = await waitForRun(d.client, runId);
    assert.equal(dry.status, 'completed', dry.message ?? '');
    assert.equal(dry.counts.changed, Object.keys(PROBES).length);
    const { rows } = await d.client.request('diffs', { runId: dry.id, status: 'changed', offset: 0, limit: 1 });
    assert.equal(rows[0]!.changes.result!.after, '11111111111');
  });

  test('a dynamic import() of a Node built-in is a compile error, as a static import is', async () => {
    const file = ws.correction(
      'imports-fs',
      `import { defineCorrection } from 'redress';
export default defineCorrection({ id: 'imports-fs', description: 'x', target: { table: 'probes', key: 'id' }, expects: {},
  transform: () => { void import('fs'); return {}; } });`,
    );
    await assert.rejects(d.client.request('preview', { correction: file, params: {} }), /Node built-ins are not available/);
  });
});

// The PostgreSQL target hands JSON documents and arrays to the transform as objects: nothing SQLite can
// produce. These cases run the sandbox worker itself with such rows, as the engine does.
describe('JSON-shaped values (as the PostgreSQL target gives them) arrive as objects of the correction', () => {
  let sb: Sandbox;
  before(async () => {
    const file = ws.correction(
      'json-values',
      `import { defineCorrection } from 'redress';
${PROBE_LIB}
export default defineCorrection({ id: 'json-values', description: 'x', target: { table: 'docs', key: 'id' }, expects: {},
  transform(row: any, ctx: any) {
    if (row.id === 1) return { out: [
      foreign({ row }), reach(() => row.doc.constructor.constructor(P)()), reach(() => row.doc.list.constructor.constructor(P)()),
      reach(() => row.doc.list[1].constructor.constructor(P)()), reach(() => row.at.constructor.constructor(P)()),
      String(row.doc instanceof Object && Array.isArray(row.doc.list) && row.doc.list instanceof Array && row.at instanceof Date),
      String(Object.keys(row.doc).join(',')), typeof row.doc.list[1].big,
    ] };
    if (row.id === 2) return { out: new Proxy({}, {}) };
    if (row.id === 3) return { out: { nested: () => 1 } };
    if (row.id === 4) return Promise.resolve({ out: 1 }) as never;
    return { out: { ok: true } };
  } });`,
    );
    const compiled = await compileCorrection(file);
    assert.ok(compiled.ok, JSON.stringify(compiled.diagnostics));
    sb = await Sandbox.load(compiled.code, file, null, { seed: 1, now: 0, params: {} });
  });
  after(async () => {
    await sb?.close();
  });

  test('objects, arrays, dates and bigints inside them are copies of the correction realm; keys like __proto__ stay data', async () => {
    const doc: Record<string, unknown> = { list: [1, { big: 2n ** 70n }] };
    Object.defineProperty(doc, '__proto__', { value: 'a key, not a prototype', enumerable: true, writable: true, configurable: true });
    const [r] = await sb.run([{ id: 1, doc, at: new Date(0) }], ['1'], [0]);
    assert.equal(r!.t, 'change', JSON.stringify(r));
    const out = (r as unknown as { patch: { out: string[] } }).patch.out;
    assert.match(out[0]!, /^clean/, out[0]);
    for (const o of out.slice(1, 5)) assert.match(o, /^blocked/, o);
    assert.deepEqual(out.slice(5), ['true', 'list,__proto__', 'bigint']);
  });

  test('a value that cannot leave the sandbox (a proxy, a nested function) or a promise quarantines its row, not the run', async () => {
    const results = await sb.run([{ id: 2 }, { id: 3 }, { id: 4 }, { id: 5 }], ['2', '3', '4', '5'], []);
    assert.deepEqual(
      results.map((r) => r.t),
      ['quarantine', 'quarantine', 'quarantine', 'change'],
    );
    const reasons = results.map((r) => (r.t === 'quarantine' ? r.reason : ''));
    assert.match(reasons[0]!, /cannot be stored .*return plain values/);
    assert.match(reasons[1]!, /cannot be stored .*return plain values/);
    assert.match(reasons[2]!, /returned a Promise; transforms are synchronous/);
  });
});
