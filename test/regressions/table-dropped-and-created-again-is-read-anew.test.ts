// Regression: a PostgreSQL table dropped and created again under its name, while the daemon kept its
// connections, made the next dry-run fail with the server's "function in FROM has unsupported return
// type": the statement that checks values against the table's row type was prepared on the old one.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { lowerEmailCorrection, pgEngine, pgSchema, type PgEngine, type PgSchema } from '../helpers/pg';

let s: PgSchema;
let e: PgEngine;

before(async () => {
  s = await pgSchema('recreated');
  e = await pgEngine(s);
});
after(async () => {
  await e?.close();
  await s?.drop();
});

async function createPeople(): Promise<void> {
  await s.sql('DROP TABLE IF EXISTS people');
  await s.sql('CREATE TABLE people (id int8 PRIMARY KEY, email text NOT NULL)');
  await s.sql(`INSERT INTO people SELECT i, 'P' || i || '@X.COM' FROM generate_series(1, 30) i`);
}

test('table-dropped-and-created-again-is-read-anew: the dry-run after it plans the new table', async () => {
  const file = e.correction('lower-email', lowerEmailCorrection(10));
  for (let i = 0; i < 2; i++) {
    await createPeople();
    const dry = await e.run(e.engine.startDryRun({ correction: file, params: {} }));
    assert.equal(dry.status, 'completed', dry.message ?? '');
    assert.equal(dry.counts.changed, 30);
  }
});
