// PostgreSQL values <-> Redress stored values, without a connection: text-format parsers per type OID,
// how a transform sees each value, and the text form a value is sent back in. Shared by the PostgreSQL
// target and by snapshots taken from PostgreSQL, so both present a row identically.
//
// Nothing here is lossy: every value is read from the server's text output (TimeZone UTC, DateStyle
// ISO, IntervalStyle postgres, extra_float_digits 3, bytea_output hex) and written back as that text.
import { canonical, JsonText, TypedText, type StoredValue } from '../../shared/values';
import type { Column } from './target';

/** What the target knows about a column's type beyond its name. */
export interface PgTypeInfo {
  oid: number;
  /** pg_type.typname of the type, or of the base type for a domain (int4, numeric, _int4, mood). */
  name: string;
  /** pg_type.typcategory: A array, B boolean, D date/time, E enum, N numeric, S string, T timespan, U user, ... */
  category: string;
  /** The type as SQL names it, without modifier (for casts): numeric, "my schema".mood, integer[]. */
  sqlType?: string;
  /** For arrays: the element's typname (domains resolved to their base type). */
  elem?: string;
  /** For enums (and arrays of enums): the labels in order. */
  labels?: string[];
}

const TEXTLIKE_TYPED = new Set(['numeric', 'timestamptz', 'timestamp', 'date', 'time', 'timetz', 'interval']);

/** Parses one value of a type (by typname) from the server's text output. */
export function parseText(typname: string, text: string): StoredValue {
  switch (typname) {
    case 'int8':
      return BigInt(text);
    case 'int2':
    case 'int4':
    case 'oid':
      return Number(text);
    case 'float4':
    case 'float8':
      return parseFloat(text); // "NaN", "Infinity", "-Infinity" and "-0" parse exactly
    case 'bool':
      return text === 't';
    case 'bytea':
      return parseBytea(text);
    case 'json':
    case 'jsonb':
      return new JsonText(text);
  }
  if (TEXTLIKE_TYPED.has(typname)) return new TypedText(typname, text);
  return text; // text, varchar, bpchar, uuid, enums, inet, ... : the text is the value
}

function parseBytea(text: string): Uint8Array {
  if (!text.startsWith('\\x')) throw new Error('bytea_output must be hex');
  const b = Buffer.from(text.slice(2), 'hex');
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** Builtin OIDs, so results of ad-hoc queries parse the same way as table reads. */
export const BUILTIN_OIDS: Record<number, string> = {
  16: 'bool',
  17: 'bytea',
  20: 'int8',
  21: 'int2',
  23: 'int4',
  26: 'oid',
  114: 'json',
  700: 'float4',
  701: 'float8',
  1082: 'date',
  1083: 'time',
  1114: 'timestamp',
  1184: 'timestamptz',
  1186: 'interval',
  1266: 'timetz',
  1700: 'numeric',
  3802: 'jsonb',
};

/**
 * Per-connection type parsers. Scalars parse by type; arrays (and anything registered as an array)
 * keep their exact text as TypedText('<elem>[]'); unknown types are their text.
 */
export class PgTypeRegistry {
  private readonly scalars = new Map<number, string>(Object.entries(BUILTIN_OIDS).map(([k, v]) => [Number(k), v]));
  private readonly arrays = new Map<number, string>();
  private readonly parsers = new Map<number, (t: string) => unknown>();

  registerScalar(oid: number, typname: string): void {
    this.scalars.set(oid, typname);
    this.parsers.delete(oid);
  }
  registerArray(oid: number, elemTypname: string): void {
    this.arrays.set(oid, elemTypname);
    this.parsers.delete(oid);
  }

  /** node-postgres `types` option. */
  readonly types = {
    getTypeParser: (oid: number, format?: string): ((t: string) => unknown) => {
      if (format === 'binary') return (t: string) => t;
      let p = this.parsers.get(oid);
      if (!p) {
        const elem = this.arrays.get(oid);
        const name = this.scalars.get(oid);
        p = elem !== undefined ? (t: string) => new TypedText(elem + '[]', t) : name !== undefined ? (t: string) => parseText(name, t) : (t: string) => t;
        this.parsers.set(oid, p);
      }
      return p;
    },
  };
}

// ---------- how a transform sees values ----------

const isSafe = (v: bigint) => v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Plain JavaScript for the transform: int8 as a number when it is safe, else a bigint; numeric, dates,
 * times and intervals as their text; json and jsonb parsed (integers beyond 2^53 as bigint); arrays parsed.
 */
export function pgFriendly(v: StoredValue): unknown {
  if (typeof v === 'bigint') return isSafe(v) ? Number(v) : v;
  if (v instanceof JsonText) return parseJsonExact(v.text);
  if (v instanceof TypedText) {
    if (v.type.endsWith('[]')) {
      const parsed = parseArrayText(v.text, v.type.slice(0, -2));
      return parsed === undefined ? v.text : parsed;
    }
    return v.text;
  }
  return v;
}

/** JSON.parse, except that integers outside the safe range become bigints instead of losing digits. */
export function parseJsonExact(text: string): unknown {
  if (!/\d{16}/.test(text)) return JSON.parse(text);
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const value = (): unknown => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const o: Record<string, unknown> = {};
      ws();
      if (text[i] === '}') {
        i++;
        return o;
      }
      for (;;) {
        ws();
        const k = str();
        ws();
        i++; // ':'
        Object.defineProperty(o, k, { value: value(), enumerable: true, writable: true, configurable: true });
        ws();
        if (text[i++] === '}') return o;
      }
    }
    if (c === '[') {
      i++;
      const a: unknown[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return a;
      }
      for (;;) {
        a.push(value());
        ws();
        if (text[i++] === ']') return a;
      }
    }
    if (c === '"') return str();
    const m = /^(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 400));
    if (!m) throw new SyntaxError(`invalid JSON at offset ${i}`);
    i += m[0].length;
    const lit = m[0];
    if (/^-?\d+$/.test(lit)) {
      const n = Number(lit);
      return Number.isSafeInteger(n) ? n : BigInt(lit);
    }
    return JSON.parse(lit);
  };
  const str = (): string => {
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  return value();
}

/** JSON.stringify that writes bigints as integer literals; NaN and infinities do not fit JSON. */
export function stringifyJsonExact(v: unknown): string {
  const seen = new Set<unknown>();
  const walk = (x: unknown): string => {
    if (x === null || x === undefined) return 'null';
    switch (typeof x) {
      case 'bigint':
        return x.toString();
      case 'number':
        if (!Number.isFinite(x)) throw new Error(`${x} cannot be stored in JSON`);
        return JSON.stringify(x);
      case 'string':
      case 'boolean':
        return JSON.stringify(x);
      case 'object': {
        if (seen.has(x)) throw new Error('the value contains a cycle');
        if (x instanceof JsonText) return x.text;
        const j = (x as { toJSON?: () => unknown }).toJSON;
        if (typeof j === 'function') return walk(j.call(x));
        seen.add(x);
        try {
          if (Array.isArray(x)) return '[' + x.map((e) => (e === undefined ? 'null' : walk(e))).join(',') + ']';
          const parts: string[] = [];
          for (const [k, e] of Object.entries(x)) if (e !== undefined && typeof e !== 'function') parts.push(JSON.stringify(k) + ':' + walk(e));
          return '{' + parts.join(',') + '}';
        } finally {
          seen.delete(x);
        }
      }
      default:
        throw new Error(`a ${typeof x} cannot be stored in JSON`);
    }
  };
  return walk(v);
}

/** Parses an array literal ({1,2,NULL}, nested); undefined for forms kept as text (explicit bounds). */
export function parseArrayText(text: string, elem: string): unknown[] | undefined {
  if (!text.startsWith('{')) return undefined;
  let i = 0;
  const delim = elem === 'box' ? ';' : ',';
  const parseList = (): unknown[] => {
    i++; // '{'
    const out: unknown[] = [];
    if (text[i] === '}') {
      i++;
      return out;
    }
    for (;;) {
      if (text[i] === '{') out.push(parseList());
      else if (text[i] === '"') {
        let s = '';
        i++;
        while (text[i] !== '"') {
          if (text[i] === '\\') i++;
          s += text[i++];
        }
        i++;
        out.push(elementFriendly(elem, s));
      } else {
        const start = i;
        while (text[i] !== delim && text[i] !== '}') i++;
        const raw = text.slice(start, i);
        out.push(raw === 'NULL' ? null : elementFriendly(elem, raw));
      }
      if (text[i++] === '}') return out;
    }
  };
  const r = parseList();
  return i === text.length ? r : undefined;
}

function elementFriendly(elem: string, text: string): unknown {
  switch (elem) {
    case 'int2':
    case 'int4':
    case 'int8':
    case 'float4':
    case 'float8':
    case 'bool':
    case 'bytea':
    case 'json':
    case 'jsonb':
      return pgFriendly(parseText(elem, text));
    default:
      return text;
  }
}

// ---------- what a transform returned, as the text the server parses ----------

/** How a value is handed to the server: its text form, or a JSON document for json/jsonb columns. */
export type Encoded = { text: string } | { json: string } | null;

function floatText(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  if (Object.is(v, -0)) return '-0';
  return String(v);
}

const isJsonType = (t: PgTypeInfo) => t.name === 'json' || t.name === 'jsonb';

/** A stored or friendly value as the server's input for a column of this type; throws why it does not fit. */
export function encodeValue(t: PgTypeInfo, v: unknown): Encoded {
  if (v === null || v === undefined) return null;
  if (isJsonType(t)) {
    if (v instanceof JsonText) return { json: v.text };
    if (v instanceof TypedText) throw new Error(`got a ${v.type} value for a ${t.name} column`);
    return { json: stringifyJsonExact(v) };
  }
  if (t.category === 'A') {
    if (v instanceof TypedText || typeof v === 'string') return { text: String(v) };
    if (Array.isArray(v)) return { text: arrayLiteral(v) };
    throw new Error(`got ${describe(v)}; return an array (or the array's text form)`);
  }
  return { text: scalarText(t.name, v) };
}

function scalarText(typname: string, v: unknown): string {
  switch (typeof v) {
    case 'string':
      return v;
    case 'bigint':
      return v.toString();
    case 'number':
      return floatText(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object':
      if (v instanceof Uint8Array) {
        if (typname !== 'bytea') throw new Error(`got bytes for a ${typname} column`);
        return '\\x' + Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
      }
      if (v instanceof TypedText || v instanceof JsonText) return v.text;
      if (v instanceof Date) {
        if (Number.isNaN(v.getTime())) throw new Error('got an invalid Date');
        return v.toISOString();
      }
      throw new Error(`got ${describe(v)}; return a string, number, bigint, boolean, Uint8Array, Date or null`);
    default:
      throw new Error(`got ${describe(v)}; return a string, number, bigint, boolean, Uint8Array, Date or null`);
  }
}

/** A JavaScript array as a PostgreSQL array literal; every element quoted, so no element is misread. */
export function arrayLiteral(a: unknown[]): string {
  return (
    '{' +
    a
      .map((e) => {
        if (e === null || e === undefined) return 'NULL';
        if (Array.isArray(e)) return arrayLiteral(e);
        const s = typeof e === 'object' && !(e instanceof Uint8Array) && !(e instanceof Date) && !(e instanceof TypedText) ? stringifyJsonExact(e) : scalarText(e instanceof Uint8Array ? 'bytea' : 'element', e);
        return '"' + s.replace(/[\\"]/g, (m) => '\\' + m) + '"';
      })
      .join(',') +
    '}'
  );
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? `an object (${Object.prototype.toString.call(v).slice(8, -1)})` : `a ${typeof v}`;
}

// ---------- declared types ----------

/** Whether a column of this type can hold what a correction declared in `expects`. */
export function pgTypeMatches(t: PgTypeInfo | undefined, column: Column, expected: string): boolean {
  const name = t?.name ?? column.type;
  const cat = t?.category ?? '';
  switch (expected) {
    case 'any':
      return true;
    case 'text':
      return cat === 'S' || cat === 'E' || name === 'uuid' || name === 'citext';
    case 'integer':
      return name === 'int2' || name === 'int4' || name === 'int8';
    case 'real':
      return name === 'float4' || name === 'float8';
    case 'numeric':
      return cat === 'N';
    case 'boolean':
      return name === 'bool';
    case 'blob':
      return name === 'bytea';
    case 'json':
      return name === 'json' || name === 'jsonb';
    case 'date':
      return name === 'date' || name === 'timestamp' || name === 'timestamptz';
    case 'timestamp':
      return name === 'timestamp' || name === 'timestamptz';
    default:
      return false;
  }
}

/** Canonical string of a stored value; JSON compares canonically (key order is not a change). */
export function pgCanonical(v: StoredValue): string {
  return canonical(v);
}
