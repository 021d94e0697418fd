// Runs a compiled correction in a worker thread, inside a vm context of its own: no require, no
// process, no timers; a fixed clock and a random source seeded per row. Bundled to dist/sandbox-worker.js.
import { parentPort } from 'node:worker_threads';
import vm from 'node:vm';
import type { FromWorker, ToWorker, TransformResult } from './messages';

if (!parentPort) throw new Error('sandbox-worker must run as a worker thread');
const port = parentPort;

let correction: Record<string, unknown> | null = null;
let invariants: [string, (a: unknown, b: unknown) => unknown][] = [];
let params: Record<string, string> = {};
let seed = 0;
let now = 0;
let rng: () => number = () => 0;

const context = vm.createContext({});
const logs: string[] = [];
context.console = {
  log: (...a: unknown[]) => void (logs.length < 100 && logs.push(a.map(String).join(' '))),
};
context.console.error = context.console.warn = context.console.info = context.console.log;
context.__redressNow = () => now;
context.__redressRandom = () => rng();
// A Date whose "now" is the run's fixed instant; Math.random is the per-row seeded source.
vm.runInContext(
  `(() => {
    const RealDate = Date;
    const nowFn = __redressNow, randomFn = __redressRandom;
    function FixedDate(...a) {
      if (!new.target) return new RealDate(nowFn()).toString();
      return a.length === 0 ? new RealDate(nowFn()) : new RealDate(...a);
    }
    FixedDate.prototype = RealDate.prototype;
    FixedDate.now = () => nowFn();
    FixedDate.parse = RealDate.parse;
    FixedDate.UTC = RealDate.UTC;
    globalThis.Date = FixedDate;
    Math.random = () => randomFn();
    delete globalThis.__redressNow;
    delete globalThis.__redressRandom;
  })()`,
  context,
);

/** sfc32, seeded from a 32-bit hash of (run seed, row key). */
function seeded(key: string): () => number {
  let h = 1779033703 ^ seed;
  for (let i = 0; i < key.length; i++) {
    h = Math.imul(h ^ key.charCodeAt(i), 3432918353);
    h = (h << 13) | (h >>> 19);
  }
  let a = h >>> 0,
    b = (h ^ 0x9e3779b9) >>> 0,
    c = (h ^ 0x85ebca6b) >>> 0,
    d = (h ^ 0xc2b2ae35) >>> 0;
  return () => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
}

function makeCtx(key: string) {
  const random = seeded(key);
  rng = random;
  return Object.freeze({
    now: new (context.Date as DateConstructor)(now),
    random,
    params,
    skip: (reason: string) => ({ $redress: 'skip', reason: String(reason ?? '') }),
    quarantine: (reason: string) => ({ $redress: 'quarantine', reason: String(reason ?? '') }),
  });
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

function errMessage(e: unknown): string {
  return e && typeof e === 'object' && 'message' in e ? String((e as Error).message) : String(e);
}

/** The context's own Uint8Array: blobs arrive as this thread's, which `instanceof` in a correction does not recognise. */
const ContextUint8Array = vm.runInContext('Uint8Array', context) as Uint8ArrayConstructor;

/** The row with its blobs as the context's Uint8Arrays (views of the same bytes). */
function inContextRealm(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) out[k] = v instanceof Uint8Array ? new ContextUint8Array(v.buffer, v.byteOffset, v.byteLength) : v;
  return out;
}

function transformOne(given: Record<string, unknown>, key: string): TransformResult {
  const row = inContextRealm(given);
  const transform = correction!.transform as (r: unknown, c: unknown) => unknown;
  let out: unknown;
  try {
    out = transform(Object.freeze({ ...row }), makeCtx(key));
  } catch (e) {
    return { t: 'quarantine', reason: `transform threw: ${errMessage(e)}` };
  }
  if (out && typeof out === 'object' && (out as { $redress?: string }).$redress === 'skip') return { t: 'skip', reason: (out as { reason: string }).reason };
  if (out && typeof out === 'object' && (out as { $redress?: string }).$redress === 'quarantine') return { t: 'quarantine', reason: (out as { reason: string }).reason };
  if (!out || typeof out !== 'object' || Array.isArray(out) || out instanceof Uint8Array) {
    return { t: 'quarantine', reason: `transform returned ${describe(out)}; return an object with the changed fields, ctx.skip(reason) or ctx.quarantine(reason)` };
  }
  const patch: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(out)) {
    if (v === undefined) continue;
    if (typeof v === 'function' || typeof v === 'symbol') return { t: 'quarantine', reason: `transform returned ${typeof v} for column "${k}"` };
    patch[k] = v;
  }
  const after = { ...row, ...patch };
  for (const [name, check] of invariants) {
    let ok: unknown;
    try {
      ok = check(Object.freeze({ ...after }), Object.freeze({ ...row }));
    } catch (e) {
      return { t: 'quarantine', reason: `invariant "${name}" threw: ${errMessage(e)}` };
    }
    if (!ok) return { t: 'quarantine', reason: `invariant "${name}" failed` };
  }
  return { t: 'change', patch };
}

/** A structural fingerprint of a result, for comparing two evaluations of one row. */
function fingerprint(r: TransformResult): string {
  return JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? `bytes:${Buffer.from(v).toString('hex')}` : v));
}

function handle(msg: ToWorker): FromWorker {
  switch (msg.type) {
    case 'load': {
      seed = msg.seed;
      now = msg.now;
      params = msg.params;
      const module = { exports: {} as Record<string, unknown> };
      try {
        new vm.Script(`(function (module, exports) {${msg.code}\n})`, { filename: msg.filename }).runInContext(context, { timeout: 5000 })(module, module.exports);
      } catch (e) {
        return { type: 'load-error', message: `the correction failed while loading: ${errMessage(e)}` };
      }
      const c = (module.exports.default ?? module.exports) as Record<string, unknown>;
      if (!c || typeof c !== 'object' || c.$redress !== 'correction') {
        return { type: 'load-error', message: 'the file must `export default defineCorrection({...})` (imported from "redress")' };
      }
      if (typeof c.transform !== 'function') return { type: 'load-error', message: 'transform must be a function (row, ctx) => changed fields' };
      const inv = (c.invariants ?? {}) as Record<string, unknown>;
      if (typeof inv !== 'object') return { type: 'load-error', message: 'invariants must be an object of named checks' };
      for (const [k, f] of Object.entries(inv)) if (typeof f !== 'function') return { type: 'load-error', message: `invariant "${k}" must be a function (after, before) => boolean` };
      correction = c;
      invariants = Object.entries(inv) as [string, (a: unknown, b: unknown) => unknown][];
      const manifest = JSON.parse(JSON.stringify({ id: c.id, description: c.description, target: c.target, expects: c.expects, select: c.select, options: c.options, invariants: Object.keys(inv) }));
      return { type: 'loaded', manifest };
    }
    case 'run': {
      const results = msg.rows.map((row, i) => transformOne(row, msg.keys[i]!));
      // Evaluate chosen rows again, in reverse order: state kept between rows shows up as a difference.
      for (let j = msg.recheck.length - 1; j >= 0; j--) {
        const i = msg.recheck[j]!;
        const again = transformOne(msg.rows[i]!, msg.keys[i]!);
        if (fingerprint(again) !== fingerprint(results[i]!)) {
          results[i] = { t: 'quarantine', reason: `non-deterministic: two evaluations of this row gave different results (${fingerprint(results[i]!).slice(0, 120)} vs ${fingerprint(again).slice(0, 120)})`, nondeterministic: true };
        }
      }
      return { type: 'results', id: msg.id, results, logs: logs.splice(0) };
    }
  }
}

port.on('message', (msg: ToWorker) => {
  port.postMessage(handle(msg));
});
