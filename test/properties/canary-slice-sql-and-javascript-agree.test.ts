// A run's slice of a plan (its canary, the rest after one, what a rollback or verify covers) is tested
// in two places: in JavaScript over the ledger's plan rows (PostgreSQL, verify) and in SQL over a
// native plan file (SQLite apply and rollback). Both must pick exactly the same rows, or a canary's rest
// would skip or repeat rows. Keys here are any JSON text, astral characters included: JavaScript compares
// strings by UTF-16 code units and SQLite by UTF-8 bytes, which order such keys differently unless the
// rank holds the key's bytes as hex (canaryPlace).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { canaryPlace, inSlice } from '../../daemon/engine/apply';
import { sliceSql, type Slice, type SliceCond } from '../../daemon/engine/nativePlan';
import { assertProperty } from '../helpers/tables';

const keyArb = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 6 }), fc.string({ unit: 'binary', maxLength: 6 }), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String));

test('SQL over a native plan and JavaScript over the ledger pick the same rows for every slice', async () => {
  const db = new Database(':memory:');
  db.exec('CREATE TABLE cas (seq INTEGER PRIMARY KEY, bucket INTEGER NOT NULL, rank TEXT NOT NULL)');
  const ins = db.prepare('INSERT INTO cas VALUES (?, ?, ?)');
  await assertProperty(
    fc.asyncProperty(
      fc.uniqueArray(keyArb, { minLength: 1, maxLength: 60 }),
      fc.record({ kind: fc.constantFrom('none', 'all', 'percent', 'rank'), percent: fc.double({ min: 0, max: 100, noNaN: true }), n: fc.nat(70) }),
      fc.record({ kind: fc.constantFrom('none', 'all', 'percent', 'rank'), percent: fc.double({ min: 0, max: 100, noNaN: true }), n: fc.nat(70) }),
      fc.option(fc.nat(60), { nil: undefined }),
      async (keys, keep, drop, upTo) => {
        db.exec('DELETE FROM cas');
        const rows = keys.map((k, seq) => ({ seq, key: JSON.stringify([k]), ...canaryPlace(JSON.stringify([k])) }));
        for (const r of rows) ins.run(r.seq, r.bucket, r.rank);
        // A rows canary cuts at the N-th rank in JavaScript order, as canaryCut does.
        const ranks = rows.map((r) => r.rank).sort();
        const cond = (c: typeof keep): SliceCond | null =>
          c.kind === 'none' ? null : c.kind === 'all' ? { kind: 'all' } : c.kind === 'percent' ? { kind: 'percent', percent: c.percent } : { kind: 'rank', max: ranks[Math.min(c.n, ranks.length - 1)]! };
        const slice: Slice = { keep: cond(keep), drop: cond(drop), ...(upTo !== undefined ? { upTo } : {}) };
        const js = rows.filter(inSlice(slice)).map((r) => r.seq);
        const { sql, params } = sliceSql(slice);
        const inSql = (db.prepare(`SELECT seq FROM cas AS p WHERE ${sql} ORDER BY seq`).all(...params) as { seq: number }[]).map((r) => r.seq);
        assert.deepEqual(inSql, js, JSON.stringify(slice));
        // Ranks whose hash parts tie are ordered by their key part: SQL must order those as JavaScript
        // sorts them too (the raw key text would not: '\u{10000}' sorts before '\uffff' in UTF-16 only).
        const tied = rows.map((r) => '000000000000' + r.rank.slice(12));
        db.exec('DELETE FROM cas');
        tied.forEach((rank, seq) => ins.run(seq, 0, rank));
        assert.deepEqual((db.prepare('SELECT rank FROM cas ORDER BY rank').all() as { rank: string }[]).map((r) => r.rank), [...tied].sort());
      },
    ),
    { numRuns: 300 },
  );
  db.close();
});
