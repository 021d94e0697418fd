// The correction's side of the sandbox: everything a correction can reach is made by this script,
// evaluated inside the correction's vm context, so every object and function it hands out belongs to
// that context's realm. A value of the worker's own realm (a row as it arrived, an object made by the
// worker's code, a function of the worker) would lead, through `.constructor.constructor`, to the
// worker's Function, which compiles code that sees `process`. The worker therefore never passes its own
// objects to the correction: it passes them to these functions, which copy them into the context.
//
// The script captures every built-in it uses before any correction code runs (a correction can replace
// `Object.keys` or `Array.isArray` in its own realm; it must not be handed the worker's values that way).

export interface Realm {
  /** Sets the run's fixed clock (ms since the epoch) and seed. */
  setRun(seed: number, now: number): void;
  /** A deep copy of a structured-clone value (row values, params) made of the context's own objects. */
  copyIn(v: unknown): unknown;
  /** The row as the transform sees it: a frozen copy in the context's realm. */
  row(given: Record<string, unknown>): Readonly<Record<string, unknown>>;
  /** The transform's second argument for the row with this key (seeds ctx.random and Math.random). */
  ctx(key: string, params: unknown): unknown;
  /** `{ ...row, ...patch }` as a frozen object of the context's realm, for the invariants. */
  merge(row: Readonly<Record<string, unknown>>, patch: Record<string, unknown>): Readonly<Record<string, unknown>>;
  /** Makes the module object the next correction script fills (as `module.exports`). */
  stageModule(): { exports: Record<string, unknown> };
  /** Takes back the module object staged for the correction script. */
  takeModule(): { exports: Record<string, unknown> } | undefined;
  /** The console lines logged since the last call. */
  takeLogs(): string[];
}

/** The name of the global the correction script reads its module object from, only while it loads. */
export const STAGED_MODULE = '__redressModule';

export const REALM_SCRIPT = `(() => {
  'use strict';
  const G = globalThis;
  const RealDate = Date, U8 = Uint8Array, Str = String;
  const freeze = Object.freeze, keys = Object.keys, defineProperty = Object.defineProperty;
  const isArray = Array.isArray, apply = Reflect.apply, imul = Math.imul;
  const toTag = Object.prototype.toString, getTime = RealDate.prototype.getTime;

  let now = 0, seed = 0, rng = () => 0, staged;
  let logs = [];

  // A Date whose "now" is the run's fixed instant; Math.random is the per-row seeded source.
  function FixedDate(...a) {
    if (!new.target) return new RealDate(now).toString();
    return a.length === 0 ? new RealDate(now) : new RealDate(...a);
  }
  FixedDate.prototype = RealDate.prototype;
  FixedDate.now = () => now;
  FixedDate.parse = RealDate.parse;
  FixedDate.UTC = RealDate.UTC;
  // (new Date()).constructor.now() must not read the real clock either.
  defineProperty(RealDate.prototype, 'constructor', { value: FixedDate, writable: true, configurable: true });
  defineProperty(G, 'Date', { value: FixedDate, writable: true, configurable: true });
  Math.random = () => rng();

  const log = (...a) => {
    if (logs.length >= 100) return;
    let line = '';
    for (let i = 0; i < a.length; i++) line += (i ? ' ' : '') + Str(a[i]);
    logs[logs.length] = line;
  };
  defineProperty(G, 'console', { value: freeze({ log, error: log, warn: log, info: log, debug: log }), writable: true, configurable: true });

  const field = (o, k, value) => defineProperty(o, k, { value, writable: true, enumerable: true, configurable: true });

  function copyIn(v) {
    if (v === null || typeof v !== 'object') return v;
    const tag = apply(toTag, v, []);
    if (tag === '[object Uint8Array]') return new U8(v);
    if (tag === '[object Date]') return new RealDate(apply(getTime, v, []));
    if (isArray(v)) {
      const out = [];
      for (let i = 0; i < v.length; i++) field(out, i, copyIn(v[i]));
      return out;
    }
    const out = {};
    const ks = keys(v);
    for (let i = 0; i < ks.length; i++) field(out, ks[i], copyIn(v[ks[i]]));
    return out;
  }

  /** sfc32, seeded from a 32-bit hash of (run seed, row key). */
  function seeded(key) {
    let h = 1779033703 ^ seed;
    for (let i = 0; i < key.length; i++) {
      h = imul(h ^ key.charCodeAt(i), 3432918353);
      h = (h << 13) | (h >>> 19);
    }
    let a = h >>> 0, b = (h ^ 0x9e3779b9) >>> 0, c = (h ^ 0x85ebca6b) >>> 0, d = (h ^ 0xc2b2ae35) >>> 0;
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

  const skip = (reason) => ({ $redress: 'skip', reason: Str(reason ?? '') });
  const quarantine = (reason) => ({ $redress: 'quarantine', reason: Str(reason ?? '') });

  return freeze({
    setRun(s, n) { seed = s; now = n; },
    copyIn,
    row: (given) => freeze(copyIn(given)),
    ctx(key, params) {
      const random = seeded(Str(key));
      rng = random;
      return freeze({ now: new RealDate(now), random, params, skip, quarantine });
    },
    merge(row, patch) {
      const out = {};
      const rk = keys(row);
      for (let i = 0; i < rk.length; i++) field(out, rk[i], row[rk[i]]);
      const pk = keys(patch);
      for (let i = 0; i < pk.length; i++) field(out, pk[i], patch[pk[i]]);
      return freeze(out);
    },
    stageModule() {
      staged = { exports: {} };
      defineProperty(G, '${STAGED_MODULE}', { value: staged, writable: false, configurable: true });
      return staged;
    },
    takeModule() {
      delete G.${STAGED_MODULE};
      const m = staged;
      staged = undefined;
      return m;
    },
    takeLogs() {
      const out = logs;
      logs = [];
      return out;
    },
  });
})()`;
