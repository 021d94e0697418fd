// Measures the alternatives behind the PostgreSQL target's choices, on this machine (ratios, not absolutes):
//  - iteration: keyset queries `(k) > ($1) ORDER BY k LIMIT n` against a server-side cursor (DECLARE/FETCH);
//  - batch writes: one UPDATE per batch fed by unnest() of one text array per column, each cast to its
//    column's type (what the target uses for its compare-and-set UPDATE), by unnest() of typed arrays,
//    by a JSON parameter (json_populate_record; the target uses it only to normalize values a transform
//    returns, not to write them), and by a VALUES list;
//  - the compare-and-set check: each row's token as 'pg1:' hex text with RETURNING of every written row,
//    against its SHA-256 digest from a binary bytea[] parameter with only the count (what casWrite does),
//    and no check at all (the floor of a batched keyed UPDATE); and the digest batches written two at a
//    time on two connections (the target's default concurrency); each against one set-based UPDATE.
// Run: node --import tsx bench/postgres-methods.ts   (BENCH_ROWS, REDRESS_TEST_PG to change)
import pg from 'pg';

const URL_ = process.env.REDRESS_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const ROWS = Number(process.env.BENCH_ROWS ?? 200_000);
const BATCH = 1000;

async function time(fn: () => Promise<void>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

async function main(): Promise<void> {
  const c = new pg.Client({ connectionString: URL_ });
  await c.connect();
  await c.query('DROP SCHEMA IF EXISTS redress_bench_methods CASCADE; CREATE SCHEMA redress_bench_methods; SET search_path = redress_bench_methods');
  // A second session: batches written two at a time (the target's default concurrency).
  const c2 = new pg.Client({ connectionString: URL_ });
  await c2.connect();
  await c2.query('SET search_path = redress_bench_methods; SET plan_cache_mode = force_generic_plan');
  await c.query(`CREATE TABLE items (id int8 PRIMARY KEY, name text NOT NULL, qty int4 NOT NULL, price numeric(10,2))`);
  await c.query(`INSERT INTO items SELECT i, 'Item ' || i || ' Of The Catalogue', i % 97, (i % 1000) / 10.0 FROM generate_series(1, ${ROWS}) i`);
  await c.query('VACUUM ANALYZE items');
  console.log(`PostgreSQL target method choices — ${ROWS.toLocaleString('en-US')} rows, batches of ${BATCH}\n`);

  // ---- iteration ----
  // Each way three times, alternating, best of three: the first pass over a fresh table pays for a cold
  // cache, which would otherwise count against whichever runs first.
  const readKeyset = () => time(async () => {
    let after: string | null = null;
    for (;;) {
      const r: pg.QueryResult<{ id: string }> = after === null
        ? await c.query('SELECT id, name, qty, price FROM items ORDER BY id LIMIT $1', [BATCH])
        : await c.query('SELECT id, name, qty, price FROM items WHERE id > $2::int8 ORDER BY id LIMIT $1', [BATCH, after]);
      if (r.rows.length === 0) break;
      after = r.rows[r.rows.length - 1]!.id;
    }
  });
  const readCursor = () => time(async () => {
    await c.query('BEGIN');
    await c.query('DECLARE cur NO SCROLL CURSOR FOR SELECT id, name, qty, price FROM items ORDER BY id');
    for (;;) {
      const r = await c.query(`FETCH ${BATCH} FROM cur`);
      if (r.rows.length === 0) break;
    }
    await c.query('COMMIT');
  });
  let keyset = Infinity;
  let cursor = Infinity;
  for (let i = 0; i < 3; i++) {
    keyset = Math.min(keyset, await readKeyset());
    cursor = Math.min(cursor, await readCursor());
  }
  console.log(`read all rows: keyset ${Math.round(ROWS / (keyset / 1000)).toLocaleString('en-US')} rows/s, server-side cursor ${Math.round(ROWS / (cursor / 1000)).toLocaleString('en-US')} rows/s  (cursor/keyset time ${(cursor / keyset).toFixed(2)}x)`);

  // ---- batch writes (each batch in its own transaction, as the target does) ----
  const batches: { id: string; name: string }[][] = [];
  for (let i = 1; i <= ROWS; i += BATCH) {
    const b: { id: string; name: string }[] = [];
    for (let j = i; j < Math.min(i + BATCH, ROWS + 1); j++) b.push({ id: String(j), name: `item ${j} of the catalogue` });
    batches.push(b);
  }
  const reset = () => c.query(`UPDATE items SET name = 'Item ' || id || ' Of The Catalogue'`).then(() => c.query('VACUUM items'));
  const methods: Record<string, (b: { id: string; name: string }[]) => Promise<unknown>> = {
    'json parameter (json_populate_record)': (b) =>
      c.query(
        `UPDATE items AS t SET name = r.name FROM json_array_elements($1::json) AS d(v), LATERAL json_populate_record(NULL::items, d.v) AS r WHERE t.id = r.id`,
        [JSON.stringify(b)],
      ),
    'unnest of text arrays, cast per column': (b) =>
      c.query(`UPDATE items AS t SET name = u.name::text FROM unnest($1::text[], $2::text[]) AS u(id, name) WHERE t.id = u.id::int8`, [b.map((x) => x.id), b.map((x) => x.name)]),
    'unnest of typed arrays': (b) =>
      c.query(`UPDATE items AS t SET name = u.name FROM unnest($1::int8[], $2::text[]) AS u(id, name) WHERE t.id = u.id`, [b.map((x) => x.id), b.map((x) => x.name)]),
    'VALUES list': (b) =>
      c.query(
        `UPDATE items AS t SET name = v.name FROM (VALUES ${b.map((_, i) => `($${2 * i + 1}::int8, $${2 * i + 2}::text)`).join(', ')}) AS v(id, name) WHERE t.id = v.id`,
        b.flatMap((x) => [x.id, x.name]),
      ),
  };
  const results: [string, number][] = [];
  for (const [name, run] of Object.entries(methods)) {
    await reset();
    const ms = await time(async () => {
      for (const b of batches) {
        await c.query('BEGIN');
        await run(b);
        await c.query('COMMIT');
      }
    });
    results.push([name, ms]);
  }
  const best = Math.min(...results.map((r) => r[1]));
  for (const [name, ms] of results) console.log(`write: ${name.padEnd(40)} ${Math.round(ROWS / (ms / 1000)).toLocaleString('en-US').padStart(9)} rows/s  ${(ms / best).toFixed(2)}x the fastest`);

  // ---- the compare-and-set check (PostgresTarget.casWrite) ----
  // The token the server computes for each row (as PostgresTarget.tokenSql), compared as 'pg1:' hex text
  // with every written row returned (the target before), or as a SHA-256 digest from one binary bytea[]
  // parameter with only the count returned (the target now; classification only when rows are missing).
  const digest = `sha256(convert_to(${['id', 'name', 'qty', 'price'].map((c) => `coalesce(octet_length(t.${c}::text)::text || ':' || t.${c}::text, '~')`).join(' || ')}, 'UTF8'))`;
  await c.query('SET plan_cache_mode = force_generic_plan');
  const tokenBatches = async (): Promise<{ ids: string[]; hex: string[]; names: string[] }[]> => {
    const r = await c.query<{ id: string; h: string; name: string }>(`SELECT t.id::text AS id, encode(${digest}, 'hex') AS h, lower(t.name) AS name FROM items t ORDER BY t.id`);
    const out: { ids: string[]; hex: string[]; names: string[] }[] = [];
    for (let i = 0; i < r.rows.length; i += BATCH) {
      const b = r.rows.slice(i, i + BATCH);
      out.push({ ids: b.map((x) => x.id), hex: b.map((x) => 'pg1:' + x.h), names: b.map((x) => x.name) });
    }
    return out;
  };
  const bytea = (hex: string[]): Buffer => {
    const buf = Buffer.alloc(20 + hex.length * 36);
    [1, 0, 17, hex.length, 1].forEach((v, k) => buf.writeInt32BE(v, 4 * k));
    hex.forEach((h, k) => {
      buf.writeInt32BE(32, 20 + 36 * k);
      buf.write(h.slice(4), 24 + 36 * k, 32, 'hex');
    });
    return buf;
  };
  type CasBatch = { ids: string[]; hex: string[]; names: string[] };
  const digestUpdate = (cl: pg.Client, b: CasBatch) =>
    cl.query({
      name: 'cas_digest',
      text: `UPDATE items AS t SET name = u.n::text FROM unnest($1::text[], $2::text[], $3::bytea[]) WITH ORDINALITY AS u(id, n, h, i) WHERE t.id = u.id::int8 AND ${digest} = u.h`,
      values: [b.ids, b.names, bytea(b.hex)],
    });
  const cas: Record<string, (b: CasBatch) => Promise<unknown>> = {
    "'pg1:' hex text, RETURNING every row": (b) =>
      c.query({
        name: 'cas_text',
        text: `UPDATE items AS t SET name = u.n::text FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS u(id, h, n, i) WHERE t.id = u.id::int8 AND 'pg1:' || encode(${digest}, 'hex') = u.h RETURNING u.i`,
        values: [b.ids, b.hex, b.names],
        rowMode: 'array',
      }),
    'no check at all (the floor)': (b) =>
      c.query({ name: 'cas_none', text: `UPDATE items AS t SET name = u.n::text FROM unnest($1::text[], $2::text[]) AS u(id, n) WHERE t.id = u.id::int8`, values: [b.ids, b.names] }),
    'digest bytea[] (binary), count only': (b) => digestUpdate(c, b),
  };
  const casResults: [string, number][] = [];
  const batchesOn = async (clients: pg.Client[], run: (cl: pg.Client, b: CasBatch) => Promise<unknown>) => {
    const batchesOf = await tokenBatches();
    let next = 0;
    return time(async () => {
      await Promise.all(
        clients.map(async (cl) => {
          for (let b = batchesOf[next++]; b; b = batchesOf[next++]) {
            await cl.query('BEGIN');
            await run(cl, b);
            await cl.query('COMMIT');
          }
        }),
      );
    });
  };
  for (const [name, run] of Object.entries(cas)) {
    await reset();
    casResults.push([name, await batchesOn([c], (_, b) => run(b))]);
  }
  // What Redress does by default: the same digest batches, two at a time on two connections.
  await reset();
  casResults.push(['digest bytea[], two batches at once', await batchesOn([c, c2], digestUpdate)]);
  const bestCas = Math.min(...casResults.map((r) => r[1]));
  for (const [name, ms] of casResults) console.log(`compare-and-set: ${name.padEnd(38)} ${Math.round(ROWS / (ms / 1000)).toLocaleString('en-US').padStart(9)} rows/s  ${(ms / bestCas).toFixed(2)}x the fastest`);
  // Where a batched apply's time goes: batches keyed by the primary key against one set-based UPDATE.
  await reset();
  await c.query('CHECKPOINT').catch(() => {});
  const setMs = await time(async () => void (await c.query('UPDATE items SET name = lower(name)')));
  console.log(`set-based UPDATE of every row:                          ${Math.round(ROWS / (setMs / 1000)).toLocaleString('en-US').padStart(9)} rows/s`);
  for (const [name, ms] of casResults) console.log(`  batches, ${name.padEnd(45)} ${(ms / setMs).toFixed(2)}x the set-based UPDATE`);
  await c.query('DROP SCHEMA redress_bench_methods CASCADE');
  await c.end();
  await c2.end();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
