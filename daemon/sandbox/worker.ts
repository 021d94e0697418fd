// Runs a compiled correction in a worker thread, inside a vm context of its own: no require, no
// process, no timers, no eval or new Function; a fixed clock and a random source seeded per row.
// Everything the correction can reach (its row, ctx, console, Date, the module object) is made inside
// that context by realm.ts, so no function of this thread's realm is reachable from it.
// Bundled to dist/sandbox-worker.js.
import { parentPort } from 'node:worker_threads';
import { types } from 'node:util';
import vm from 'node:vm';
import type { FromWorker, ToWorker, TransformResult } from './messages';
import { REALM_SCRIPT, STAGED_MODULE, type Realm } from './realm';

if (!parentPort) throw new Error('sandbox-worker must run as a worker thread');
const port = parentPort;

type Fn = (a: unknown, b: unknown) => unknown;
let transform: Fn | null = null;
let invariants: [string, Fn][] = [];
let params: unknown = undefined;

// A null-prototype global object: with `{}`, `globalThis.constructor` would be this thread's Object.
// No code generation from strings (eval, new Function) and no WebAssembly inside the context.
const context = vm.createContext(Object.create(null), { name: 'redress correction', codeGeneration: { strings: false, wasm: false } });
const realm = vm.runInContext(REALM_SCRIPT, context) as Realm;

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/** The message of whatever a correction threw; its getters and toString are the correction's code and may throw too. */
function errMessage(e: unknown): string {
  try {
    return e && typeof e === 'object' && 'message' in e ? String((e as Error).message) : String(e);
  } catch {
    return 'a value whose message could not be read';
  }
}

function transformOne(given: Record<string, unknown>, key: string): TransformResult {
  const row = realm.row(given);
  let out: unknown;
  try {
    out = transform!(row, realm.ctx(key, params));
  } catch (e) {
    return { t: 'quarantine', reason: `transform threw: ${errMessage(e)}` };
  }
  // Reading what the transform returned runs its getters (and proxies): they may throw as well.
  let patch: Record<string, unknown>;
  try {
    if (!out || typeof out !== 'object' || Array.isArray(out) || types.isUint8Array(out)) {
      return { t: 'quarantine', reason: `transform returned ${describe(out)}; return an object with the changed fields, ctx.skip(reason) or ctx.quarantine(reason)` };
    }
    const tag = (out as { $redress?: unknown }).$redress;
    if (tag === 'skip' || tag === 'quarantine') return { t: tag, reason: String((out as { reason: unknown }).reason) };
    if (typeof (out as { then?: unknown }).then === 'function') {
      return { t: 'quarantine', reason: 'transform returned a Promise; transforms are synchronous: return the changed fields, not a promise (no async transform)' };
    }
    patch = {};
    for (const [k, v] of Object.entries(out)) {
      if (v === undefined) continue;
      if (typeof v === 'function' || typeof v === 'symbol') return { t: 'quarantine', reason: `transform returned ${typeof v} for column "${k}"` };
      patch[k] = v;
    }
  } catch (e) {
    return { t: 'quarantine', reason: `what the transform returned could not be read: ${errMessage(e)}` };
  }
  if (invariants.length) {
    const after = realm.merge(row, patch);
    for (const [name, check] of invariants) {
      let ok: unknown;
      try {
        ok = check(after, row);
      } catch (e) {
        return { t: 'quarantine', reason: `invariant "${name}" threw: ${errMessage(e)}` };
      }
      if (!ok) return { t: 'quarantine', reason: `invariant "${name}" failed` };
    }
  }
  return { t: 'change', patch };
}

/** A structural fingerprint of a result, for comparing two evaluations of one row. */
function fingerprint(r: TransformResult): string {
  try {
    return JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? `${v}n` : types.isUint8Array(v) ? `bytes:${Buffer.from(v).toString('hex')}` : v));
  } catch (e) {
    return `unreadable: ${errMessage(e)}`;
  }
}

function handle(msg: ToWorker): FromWorker {
  switch (msg.type) {
    case 'load': {
      realm.setRun(msg.seed, msg.now);
      params = Object.freeze(realm.copyIn(msg.params));
      let c: Record<string, unknown>;
      try {
        realm.stageModule();
        let module: { exports: Record<string, unknown> };
        try {
          // The module body runs inside the script, so the load timeout covers it too.
          new vm.Script(`(function (module, exports) {${msg.code}\n})(${STAGED_MODULE}, ${STAGED_MODULE}.exports)`, { filename: msg.filename }).runInContext(context, { timeout: 5000 });
        } finally {
          module = realm.takeModule()!;
        }
        c = (module.exports.default ?? module.exports) as Record<string, unknown>;
        if (!c || typeof c !== 'object' || c.$redress !== 'correction') {
          return { type: 'load-error', message: 'the file must `export default defineCorrection({...})` (imported from "redress")' };
        }
        if (typeof c.transform !== 'function') return { type: 'load-error', message: 'transform must be a function (row, ctx) => changed fields' };
        const inv = (c.invariants ?? {}) as Record<string, unknown>;
        if (typeof inv !== 'object') return { type: 'load-error', message: 'invariants must be an object of named checks' };
        for (const [k, f] of Object.entries(inv)) if (typeof f !== 'function') return { type: 'load-error', message: `invariant "${k}" must be a function (after, before) => boolean` };
        transform = c.transform as Fn;
        invariants = Object.entries(inv) as [string, Fn][];
        const manifest = JSON.parse(JSON.stringify({ id: c.id, description: c.description, target: c.target, expects: c.expects, select: c.select, options: c.options, invariants: Object.keys(inv) })) as unknown;
        return { type: 'loaded', manifest };
      } catch (e) {
        return { type: 'load-error', message: `the correction failed while loading: ${errMessage(e)}. Fix the error at load time (top-level code and defineCorrection({...})) and try again.` };
      }
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
      return { type: 'results', id: msg.id, results, logs: realm.takeLogs() };
    }
  }
}

/** Posts a reply; a result holding a value that cannot be copied to the daemon (a proxy, a nested function) quarantines its row. */
function post(reply: FromWorker): void {
  try {
    port.postMessage(reply);
    return;
  } catch (e) {
    if (reply.type !== 'results') throw e;
  }
  const results = reply.results.map((r): TransformResult => {
    try {
      structuredClone(r);
      return r;
    } catch (e) {
      return { t: 'quarantine', reason: `transform returned a value that cannot be stored (${errMessage(e)}); return plain values: strings, numbers, bigints, booleans, null, Uint8Array, arrays and plain objects` };
    }
  });
  port.postMessage({ type: 'results', id: reply.id, results, logs: [] } satisfies FromWorker);
}

port.on('message', (msg: ToWorker) => {
  post(handle(msg));
});
