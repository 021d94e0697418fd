// Canonical value encoding and hashing (DESIGN.md, safety contract point 9: value fidelity).
//
// Three representations of a value travel through Redress:
//  - stored: what a target's driver hands us, lossless (integers as bigint, reals as number, bytes as
//    Uint8Array, text as string, null). Targets own the mapping to and from their own types.
//  - wire: JSON-safe and lossless, for the ledger and the WebSocket protocol. Untagged numbers are
//    always reals; integers, special reals, bytes and JSON documents are tagged objects.
//  - canonical: a string per value that is equal exactly when the values are the same, which is what
//    diffs and row hashes compare.
import { createHash } from 'node:crypto';

export type WireValue =
  | null
  | boolean
  | string
  | number
  | { $int: string }
  | { $real: 'NaN' | 'Infinity' | '-Infinity' | '-0' }
  | { $bytes: string }
  | { $json: string }
  | { $text: string; $type: string }; // a typed scalar kept in its text form (numeric, timestamptz, uuid, ...)

/** A stored value of a kind no JavaScript primitive carries exactly, kept as its canonical text. */
export class TypedText {
  constructor(readonly type: string, readonly text: string) {}
  toString(): string {
    return this.text;
  }
  toJSON(): string {
    return this.text;
  }
}

/** A JSON document, kept as text so that big integers and key order survive; compared canonically. */
export class JsonText {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
  toJSON(): unknown {
    return JSON.parse(this.text);
  }
}

export type StoredValue = null | boolean | string | number | bigint | Uint8Array | TypedText | JsonText;

export function toWire(v: StoredValue): WireValue {
  if (v === null || v === undefined) return null;
  switch (typeof v) {
    case 'boolean':
    case 'string':
      return v;
    case 'bigint':
      return { $int: v.toString() };
    case 'number':
      if (Number.isNaN(v)) return { $real: 'NaN' };
      if (v === Infinity) return { $real: 'Infinity' };
      if (v === -Infinity) return { $real: '-Infinity' };
      if (Object.is(v, -0)) return { $real: '-0' };
      return v;
  }
  if (v instanceof Uint8Array) return { $bytes: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
  if (v instanceof JsonText) return { $json: v.text };
  if (v instanceof TypedText) return { $text: v.text, $type: v.type };
  throw new TypeError(`cannot encode a value of type ${Object.prototype.toString.call(v)}`);
}

export function fromWire(w: WireValue): StoredValue {
  if (w === null || typeof w !== 'object') return w;
  if ('$int' in w) return BigInt(w.$int);
  if ('$real' in w) return w.$real === '-0' ? -0 : Number(w.$real);
  if ('$bytes' in w) return new Uint8Array(Buffer.from(w.$bytes, 'base64'));
  if ('$json' in w) return new JsonText(w.$json);
  if ('$text' in w) return new TypedText(w.$type, w.$text);
  throw new TypeError(`not a wire value: ${JSON.stringify(w)}`);
}

/** The canonical string of a stored value: equal strings exactly when the values are the same. */
export function canonical(v: StoredValue): string {
  if (v === null || v === undefined) return 'n';
  switch (typeof v) {
    case 'boolean':
      return v ? 'T' : 'F';
    case 'string':
      return 's' + v;
    case 'bigint':
      return 'i' + v.toString();
    case 'number':
      return 'r' + (Object.is(v, -0) ? '-0' : String(v));
  }
  if (v instanceof Uint8Array) return 'b' + Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
  if (v instanceof JsonText) return 'j' + canonicalJson(v.text);
  if (v instanceof TypedText) return 't' + v.type + ':' + v.text;
  throw new TypeError(`cannot encode a value of type ${Object.prototype.toString.call(v)}`);
}

/** Hash of a row's canonical column strings, in the order given (the table's column order). */
export function rowHash(canonicalColumns: readonly string[]): string {
  const h = createHash('sha256');
  for (const c of canonicalColumns) {
    h.update(String(c.length));
    h.update(':');
    h.update(c);
  }
  return h.digest('base64url').slice(0, 27); // 160 bits: collision-free for any table we will meet
}

export function sha256(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

/** A JSON-serialisable rendering of a stored value for people (diff viewers, reports). */
export function display(v: StoredValue): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return Object.is(v, -0) ? '-0.0' : String(v);
  if (typeof v === 'boolean') return String(v);
  if (v instanceof Uint8Array) return '\\x' + Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
  return v.toString();
}

// ---- canonical JSON: object keys sorted, number literals kept verbatim (no loss beyond 2^53) ----

export class JsonSyntaxError extends Error {}

/** Re-serialises JSON text with sorted keys and no white space, keeping every number's digits. */
export function canonicalJson(text: string): string {
  let i = 0;
  const ws = () => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\n' || text[i] === '\r' || text[i] === '\t')) i++;
  };
  const fail = (what: string): never => {
    throw new JsonSyntaxError(`invalid JSON at offset ${i}: ${what}`);
  };
  const str = (): string => {
    const start = i;
    i++; // opening quote
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    if (i >= text.length) fail('unterminated string');
    i++;
    // Normalise escapes so "\u0041" and "A" compare equal.
    return JSON.stringify(JSON.parse(text.slice(start, i)) as string);
  };
  const value = (): string => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const entries: [string, string][] = [];
      ws();
      if (text[i] === '}') {
        i++;
        return '{}';
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a key');
        const k = str();
        ws();
        if (text[i] !== ':') fail("expected ':'");
        i++;
        entries.push([k, value()]);
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          break;
        }
        fail("expected ',' or '}'");
      }
      entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      return '{' + entries.map(([k, v]) => k + ':' + v).join(',') + '}';
    }
    if (c === '[') {
      i++;
      const items: string[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return '[]';
      }
      for (;;) {
        items.push(value());
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          break;
        }
        fail("expected ',' or ']'");
      }
      return '[' + items.join(',') + ']';
    }
    if (c === '"') return str();
    // Sticky, at i: a number literal can be any length (a numeric in jsonb can have thousands of digits).
    const literal = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y;
    literal.lastIndex = i;
    const m = literal.exec(text);
    if (!m) fail('unexpected character');
    i += m![0].length;
    return normaliseNumber(m![0]);
  };
  const out = value();
  ws();
  if (i !== text.length) fail('trailing characters');
  return out;
}

/** 1.0, 1e0 and 1 are one number in JSON; no digit is dropped, so numbers that differ stay different. */
function normaliseNumber(lit: string): string {
  if (lit === 'true' || lit === 'false' || lit === 'null') return lit;
  if (/^-?\d+$/.test(lit)) return lit === '-0' ? '0' : lit;
  if (!/[eE]/.test(lit)) {
    // A plain decimal is normalised as text: 1.50 -> 1.5, 2.000 -> 2, and 1.00000000000000001 stays.
    const [int, frac] = lit.split('.') as [string, string];
    const f = frac.replace(/0+$/, '');
    if (f) return `${int}.${f}`;
    return int === '-0' ? '0' : int;
  }
  // With an exponent: the double's own spelling when the double is exactly this number, else every digit.
  const n = Number(lit);
  const exact = decimalParts(lit);
  const viaDouble = Number.isFinite(n) ? decimalParts(String(n)) : null;
  if (viaDouble && viaDouble.neg === exact.neg && viaDouble.digits === exact.digits && viaDouble.exp === exact.exp) return String(n);
  return plainDecimal(exact);
}

/** A number literal as sign, significant digits (no leading or trailing zeros) and exponent; zero is '0'. */
function decimalParts(lit: string): { neg: boolean; digits: string; exp: number } {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(lit)!;
  const all = (m[2]! + (m[3] ?? '')).replace(/^0+/, '');
  if (all === '') return { neg: false, digits: '0', exp: 0 };
  const digits = all.replace(/0+$/, '');
  return { neg: m[1] === '-', digits, exp: Number(m[4] ?? 0) - (m[3]?.length ?? 0) + (all.length - digits.length) };
}

/** The number written out without an exponent, as plain decimals are (an absurd exponent keeps its e). */
function plainDecimal({ neg, digits, exp }: { neg: boolean; digits: string; exp: number }): string {
  const sign = neg ? '-' : '';
  if (exp >= 0) return exp <= 1000 ? sign + digits + '0'.repeat(exp) : `${sign}${digits}e${exp}`;
  const point = digits.length + exp; // digits before the decimal point
  if (point > 0) return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
  return -point <= 1000 ? `${sign}0.${'0'.repeat(-point)}${digits}` : `${sign}${digits}e${exp}`;
}
