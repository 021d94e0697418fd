// shared/values.ts, without fixtures: the wire encoding (stored -> wire -> JSON text -> zod -> stored
// loses nothing), canonical strings (equal exactly when the values are the same), canonical JSON (key
// order and number spelling are not changes, digits beyond a double are), row hashes and display.
// Safety contract point 9, value fidelity.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { WireValue as WireValueSchema } from '../../shared/protocol';
import { canonical, canonicalJson, display, fromWire, JsonSyntaxError, JsonText, rowHash, sha256, toWire, TypedText, type StoredValue, type WireValue } from '../../shared/values';

// ---------- generators ----------

/** Type names as targets report them. (canonical writes `t<type>:<text>`; one column has one type.) */
const typeName = fc.constantFrom('numeric', 'timestamptz', 'timestamp', 'date', 'time', 'interval', 'uuid', 'inet', 'money', 'xml', 'bit varying');

const scalar: fc.Arbitrary<StoredValue> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.string({ unit: 'binary' }), // any UTF-16, lone surrogates included
  fc.double(), // NaN, ±Infinity, -0, subnormals included
  fc.bigInt({ min: -(2n ** 130n), max: 2n ** 130n }),
  fc.constantFrom(0.1 + 0.2, 2 ** 53 + 2, Number.MAX_SAFE_INTEGER, Number.MIN_VALUE, -0),
  fc.uint8Array({ maxLength: 40 }),
  fc.tuple(typeName, fc.string({ unit: 'binary' })).map(([t, s]) => new TypedText(t, s)),
);
const stored: fc.Arbitrary<StoredValue> = fc.oneof(scalar, fc.jsonValue().map((j) => new JsonText(JSON.stringify(j))));

/** Same stored value: numbers by Object.is (NaN is NaN, -0 is not 0), bytes by content, text forms by type and text. */
function sameStored(a: StoredValue, b: StoredValue): boolean {
  if (a instanceof Uint8Array || b instanceof Uint8Array) return a instanceof Uint8Array && b instanceof Uint8Array && Buffer.from(a).equals(Buffer.from(b));
  if (a instanceof JsonText || b instanceof JsonText) return a instanceof JsonText && b instanceof JsonText && a.text === b.text;
  if (a instanceof TypedText || b instanceof TypedText) return a instanceof TypedText && b instanceof TypedText && a.type === b.type && a.text === b.text;
  return Object.is(a, b);
}

/** What a value goes through between the ledger, the daemon and a client. */
function overTheWire(v: StoredValue): StoredValue {
  const text = JSON.stringify({ value: toWire(v) });
  return fromWire(WireValueSchema.parse((JSON.parse(text) as { value: unknown }).value));
}

// ---------- the wire encoding ----------

test('every stored value survives toWire -> JSON text -> zod WireValue -> fromWire unchanged', () => {
  fc.assert(
    fc.property(stored, (v) => {
      const back = overTheWire(v);
      assert.ok(sameStored(v, back), `${display(v)} came back as ${display(back)}`);
      assert.equal(canonical(back), canonical(v));
    }),
    { numRuns: 2000 },
  );
});

test('the wire form of a value is plain JSON: it survives JSON text exactly, and is one of the tagged shapes', () => {
  fc.assert(
    fc.property(stored, (v) => {
      const w = toWire(v);
      assert.deepEqual(JSON.parse(JSON.stringify(w)), w);
      assert.ok(WireValueSchema.safeParse(w).success, JSON.stringify(w));
      if (typeof w === 'number') assert.ok(Number.isFinite(w) && !Object.is(w, -0), 'untagged numbers are finite reals JSON can carry');
    }),
    { numRuns: 2000 },
  );
});

test('integers are tagged and keep every digit; an untagged number is always a real', () => {
  for (const n of [0n, 1n, -1n, 2n ** 53n + 1n, -(2n ** 63n), 2n ** 64n, 10n ** 40n + 7n]) {
    assert.deepEqual(toWire(n), { $int: n.toString() });
    assert.equal(fromWire(toWire(n)), n);
  }
  assert.equal(toWire(5), 5);
  assert.equal(typeof fromWire(5), 'number');
  assert.notEqual(canonical(5n), canonical(5), 'INTEGER 5 and REAL 5.0 are different stored values');
  assert.notEqual(canonical(2n ** 53n + 1n), canonical(2n ** 53n), 'no rounding beyond 2^53');
  assert.equal(JSON.stringify(toWire(9007199254740993n)), '{"$int":"9007199254740993"}');
});

test('-0, NaN and the infinities, which JSON numbers cannot carry, are tagged and come back exactly', () => {
  assert.deepEqual(toWire(-0), { $real: '-0' });
  assert.deepEqual(toWire(NaN), { $real: 'NaN' });
  assert.deepEqual(toWire(Infinity), { $real: 'Infinity' });
  assert.deepEqual(toWire(-Infinity), { $real: '-Infinity' });
  assert.ok(Object.is(overTheWire(-0), -0));
  assert.ok(Number.isNaN(overTheWire(NaN)));
  assert.equal(overTheWire(-Infinity), -Infinity);
  assert.equal(toWire(0), 0);
  assert.notEqual(canonical(-0), canonical(0), '-0.0 and 0.0 are different doubles');
  assert.equal(canonical(NaN), canonical(NaN), 'NaN is the same value as itself here, unlike ===');
  assert.notEqual(canonical(Infinity), canonical(-Infinity));
  assert.equal(display(-0), '-0.0');
  assert.equal(display(0), '0');
});

test('0.1 + 0.2 stays 0.30000000000000004, and is not 0.3', () => {
  const v = 0.1 + 0.2;
  assert.equal(overTheWire(v), v);
  assert.notEqual(canonical(v), canonical(0.3));
  assert.equal(display(v), '0.30000000000000004');
});

test('bytes travel as base64 of exactly their own bytes, also when they are a view into a larger buffer', () => {
  const big = Buffer.from('xx\u0000hello\u00ffyy', 'latin1');
  const view = big.subarray(2, 9); // "\0hello\xff"
  assert.deepEqual(toWire(view), { $bytes: Buffer.from('\u0000hello\u00ff', 'latin1').toString('base64') });
  const back = overTheWire(view);
  assert.ok(back instanceof Uint8Array && Buffer.from(back).equals(view));
  assert.deepEqual(toWire(new Uint8Array(0)), { $bytes: '' });
  assert.equal(display(view), '\\x0068656c6c6fff');
  assert.notEqual(canonical(new Uint8Array(Buffer.from('hi'))), canonical('hi'), 'bytes are not text');
  assert.equal(canonical(view), canonical(new Uint8Array(view)), 'a view and a copy are the same value');
});

test('NULL and the empty string are different everywhere', () => {
  assert.notDeepEqual(toWire(null), toWire(''));
  assert.notEqual(canonical(null), canonical(''));
  assert.equal(display(null), 'NULL');
  assert.equal(display(''), '""');
  assert.equal(overTheWire(''), '');
  assert.equal(overTheWire(null), null);
});

test('unicode text is kept as it is: no normalisation, astral characters and lone surrogates intact', () => {
  for (const s of ['é', 'e\u0301', '𝄞', '\u{1F600}', '\ud800', 'a\u0000b', '\u2028']) {
    assert.equal(overTheWire(s), s);
  }
  assert.notEqual(canonical('é'), canonical('e\u0301'), 'NFC and NFD spellings are different stored text');
});

// ---------- canonical strings ----------

test('canonical strings are equal exactly when the stored values are the same', () => {
  fc.assert(
    fc.property(scalar, scalar, (a, b) => {
      assert.equal(canonical(a) === canonical(b), sameStored(a, b), `${display(a)} vs ${display(b)}`);
    }),
    { numRuns: 5000 },
  );
  // Values of different kinds that print alike are still different.
  const lookalikes: StoredValue[] = [null, 'n', '', true, 'T', 'true', 1, 1n, '1', new TypedText('numeric', '1'), new JsonText('1'), new Uint8Array([0x31])];
  const canon = lookalikes.map(canonical);
  assert.equal(new Set(canon).size, lookalikes.length, canon.join(' | '));
});

test('a JSON value is canonical by content: key order and white space are not changes', () => {
  assert.equal(canonical(new JsonText('{"b": 1, "a": [1, 2]}')), canonical(new JsonText('{"a":[1,2],"b":1}')));
  assert.notEqual(canonical(new JsonText('{"a":[1,2]}')), canonical(new JsonText('{"a":[2,1]}')), 'array order is a change');
  assert.notEqual(canonical(new JsonText('"x"')), canonical('"x"'), 'a JSON string document is not text');
});

// ---------- canonical JSON ----------

/** Serialises with keys in a shuffled order and random white space, as another writer might. */
function reorder(v: unknown, rnd: () => number): string {
  const sp = () => [' ', '\n', '\t', '\r', ''][Math.floor(rnd() * 5)]!;
  if (Array.isArray(v)) return `[${sp()}${v.map((x) => reorder(x, rnd)).join(`${sp()},${sp()}`)}${sp()}]`;
  if (v !== null && typeof v === 'object') {
    const keys = Object.keys(v).sort(() => rnd() - 0.5);
    return `{${sp()}${keys.map((k) => `${JSON.stringify(k)}${sp()}:${sp()}${reorder((v as Record<string, unknown>)[k], rnd)}`).join(`${sp()},${sp()}`)}${sp()}}`;
  }
  return JSON.stringify(v);
}

/** A reference: JSON with keys sorted by code unit, through JSON.parse (doubles). */
function sortedJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(sortedJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${sortedJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

const seededRandom = fc.integer().map((seed) => {
  let s = seed >>> 0 || 1;
  return () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
});

test('canonicalJson ignores key order and white space, and nothing else (against a sorted-keys reference)', () => {
  fc.assert(
    fc.property(fc.jsonValue(), fc.jsonValue(), seededRandom, (a, b, rnd) => {
      const ca = canonicalJson(JSON.stringify(a));
      assert.equal(canonicalJson(reorder(a, rnd)), ca, 'another key order and spacing');
      assert.equal(canonicalJson(ca), ca, 'idempotent');
      assert.equal(sortedJson(JSON.parse(ca)), sortedJson(JSON.parse(JSON.stringify(a))), 'the same document');
      const cb = canonicalJson(JSON.stringify(b));
      assert.equal(ca === cb, sortedJson(JSON.parse(JSON.stringify(a))) === sortedJson(JSON.parse(JSON.stringify(b))));
    }),
    { numRuns: 2000 },
  );
});

test('canonicalJson keeps integers beyond 2^53 digit for digit', () => {
  fc.assert(
    fc.property(fc.bigInt({ min: -(10n ** 60n), max: 10n ** 60n }), fc.bigInt({ min: 1n, max: 1000n }), (n, d) => {
      const c = canonicalJson(`{"id": ${n}, "xs": [${n}]}`);
      assert.equal(c, `{"id":${n},"xs":[${n}]}`);
      assert.notEqual(canonicalJson(`${n + d}`), canonicalJson(`${n}`));
    }),
  );
  assert.equal(canonicalJson('9007199254740993'), '9007199254740993');
  assert.notEqual(canonicalJson('9007199254740993'), canonicalJson('9007199254740992'));
  assert.equal(canonicalJson('-0'), '0');
  assert.equal(canonicalJson('-0.0'), '0');
});

test('canonicalJson: one number, several spellings', () => {
  const same = [
    ['1', '1.0', '1.000', '1e0', '1E0', '10e-1', '0.1e1', '1e+0', '100e-2'],
    ['1.5', '1.50', '15e-1', '0.15e1', '1.5E0'],
    ['-2', '-2.0', '-0.2e1', '-20E-1'],
    ['100000000000000000000', '1e20', '1E20', '100000000000000000000.0'],
    ['0.001', '1e-3', '0.0010', '10e-4'],
    ['123.456', '123456e-3', '1.23456e2'],
  ];
  for (const group of same) {
    const c = group.map(canonicalJson);
    assert.equal(new Set(c).size, 1, `${group.join(', ')} -> ${c.join(', ')}`);
  }
});

/** Exact value of a decimal literal as (sign, significant digits, exponent): equal exactly when the numbers are. */
function exactDecimal(lit: string): string {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(lit)!;
  const all = (m[2]! + (m[3] ?? '')).replace(/^0+/, '');
  if (all === '') return '0';
  const digits = all.replace(/0+$/, '');
  const exp = Number(m[4] ?? 0) - (m[3]?.length ?? 0) + (all.length - digits.length);
  return `${m[1]}${digits}e${exp}`;
}

const decimalLiteral = fc
  .record({
    neg: fc.boolean(),
    int: fc.oneof(fc.constant('0'), fc.stringMatching(/^[1-9]\d{0,24}$/)),
    frac: fc.option(fc.stringMatching(/^\d{1,30}$/), { nil: undefined }),
  })
  .map(({ neg, int, frac }) => `${neg ? '-' : ''}${int}${frac === undefined ? '' : `.${frac}`}`);

test('canonicalJson: decimals written without an exponent are equal exactly when their values are, to the last digit', () => {
  // Pairs that are often equal (trailing zeros) or differ far beyond what a double holds.
  const variant = fc.oneof(
    fc.constant((s: string) => s),
    fc.integer({ min: 1, max: 5 }).map((k) => (s: string) => (s.includes('.') ? s : `${s}.`) + '0'.repeat(k)),
    fc.integer({ min: 0, max: 25 }).map((k) => (s: string) => (s.includes('.') ? s : `${s}.`) + '0'.repeat(k) + '1'),
  );
  fc.assert(
    fc.property(decimalLiteral, variant, decimalLiteral, (a, f, c) => {
      const b = f(a);
      assert.equal(canonicalJson(a) === canonicalJson(b), exactDecimal(a) === exactDecimal(b), `${a} vs ${b}`);
      assert.equal(canonicalJson(a) === canonicalJson(c), exactDecimal(a) === exactDecimal(c), `${a} vs ${c}`);
    }),
    { numRuns: 5000 },
  );
});

test('canonicalJson: a number with an exponent and more digits than a double holds is not rounded to its neighbour', () => {
  // Significant digits beyond 17: the double nearest to both numbers is the same, the numbers are not.
  fc.assert(
    fc.property(fc.stringMatching(/^[1-9]\d{17,30}[1-9]$/), fc.integer({ min: -60, max: 60 }), (digits, exp) => {
      const a = `${digits}e${exp}`;
      const b = `${digits.slice(0, -1)}0e${exp}`;
      assert.notEqual(canonicalJson(a), canonicalJson(b), `${a} vs ${b}`);
      assert.equal(canonicalJson(a), canonicalJson(`${digits[0]}.${digits.slice(1)}e${exp + digits.length - 1}`), 'the same number, the point moved');
    }),
  );
  assert.notEqual(canonicalJson('1.00000000000000001e0'), canonicalJson('1'));
  assert.equal(canonicalJson('1.00000000000000001e0'), canonicalJson('1.00000000000000001'));
  assert.notEqual(canonicalJson('1e-400'), canonicalJson('0'), 'too small for a double is not zero');
  assert.notEqual(canonicalJson('1e400'), canonicalJson('2e400'), 'too large for a double is not Infinity');
});

test('canonicalJson reads numbers of any length (a numeric in jsonb can have thousands of digits)', () => {
  const long = '9'.repeat(1000);
  assert.equal(canonicalJson(`{"n": ${long}}`), `{"n":${long}}`);
  assert.equal(canonicalJson(`[0.${'0'.repeat(500)}1]`), `[0.${'0'.repeat(500)}1]`);
  assert.notEqual(canonicalJson(`0.${'0'.repeat(500)}1`), canonicalJson('0'));
});

test('canonicalJson normalises string escapes in keys and values', () => {
  assert.equal(canonicalJson('{"\\u0061": "\\u0041\\/\\n"}'), canonicalJson('{"a": "A/\\n"}'));
  assert.equal(canonicalJson('"\\ud83d\\ude00"'), canonicalJson('"😀"'));
  assert.notEqual(canonicalJson('"a"'), canonicalJson('"A"'));
  assert.equal(canonicalJson('{"a":1,"b":{"d":[],"c":{}}}'), '{"a":1,"b":{"c":{},"d":[]}}');
});

test('canonicalJson refuses text that is not JSON', () => {
  for (const bad of ['', ' ', '{', '}', '{"a":}', '{"a" 1}', '{a:1}', '[1,]', '[1 2]', '01', '1.', '.5', '+1', '1e', 'nul', 'True', '1 2', '"abc', "'a'", '{"a":1,}', 'NaN', 'Infinity']) {
    assert.throws(() => canonicalJson(bad), JsonSyntaxError, JSON.stringify(bad));
  }
  for (const bad of ['"\\x"', '"a\u0001b"']) assert.throws(() => canonicalJson(bad), JSON.stringify(bad)); // invalid escape, raw control character
});

// ---------- hashes and display ----------

test('rowHash depends on every column, in order, and cannot be fooled by moving text between columns', () => {
  fc.assert(
    fc.property(fc.array(fc.string(), { minLength: 1, maxLength: 6 }), fc.array(fc.string(), { minLength: 1, maxLength: 6 }), (a, b) => {
      assert.equal(rowHash(a) === rowHash(b), a.length === b.length && a.every((x, i) => x === b[i]));
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.string({ minLength: 2 }), fc.nat(), fc.nat(), (s, i, j) => {
      const [p, q] = [1 + (i % (s.length - 1)), 1 + (j % (s.length - 1))];
      fc.pre(p !== q);
      assert.notEqual(rowHash([s.slice(0, p), s.slice(p)]), rowHash([s.slice(0, q), s.slice(q)]));
    }),
  );
  assert.notEqual(rowHash(['a', 'b']), rowHash(['b', 'a']));
  assert.notEqual(rowHash(['ab']), rowHash(['a', 'b']));
  assert.notEqual(rowHash(['1:a']), rowHash(['', 'a']));
  assert.notEqual(rowHash([]), rowHash(['']));
  assert.match(rowHash(['x']), /^[A-Za-z0-9_-]{27}$/);
});

test('sha256 is hex SHA-256', () => {
  assert.equal(sha256(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.equal(sha256('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.equal(sha256(Buffer.from('abc')), sha256('abc'));
});

test('display shows a person what the value is', () => {
  assert.equal(display('it\'s "x"'), '"it\'s \\"x\\""');
  assert.equal(display(2n ** 64n), '18446744073709551616');
  assert.equal(display(true), 'true');
  assert.equal(display(1.5), '1.5');
  assert.equal(display(new TypedText('numeric', '1.50')), '1.50');
  assert.equal(display(new JsonText('{"b":1, "a":2}')), '{"b":1, "a":2}');
});
