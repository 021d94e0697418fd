// The main job itself, on the real data, with the exact expected counts.
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { EXPECTED, main } from '../../examples/demo';
import { loadMovies } from '../../examples/load-movies';

const dump = (file: string) => {
  const db = new Database(file, { readonly: true });
  db.defaultSafeIntegers(true);
  const rows = db.prepare('SELECT *, typeof(title) AS title_type FROM movies ORDER BY id').all();
  db.close();
  return rows;
};

test('npm run demo: every correction finds exactly the README counts in the real movies data, applies, verifies and rolls back', { timeout: 180_000 }, () => {
  const log = process.stdout.write.bind(process.stdout);
  process.stdout.write = (() => true) as typeof process.stdout.write; // the demo narrates; the test checks
  let results: ReturnType<typeof main>;
  try {
    results = main();
  } finally {
    process.stdout.write = log;
  }
  assert.deepEqual(Object.keys(results).sort(), Object.keys(EXPECTED).sort());
  for (const [id, want] of Object.entries(EXPECTED)) {
    const r = results[id]!;
    assert.deepEqual(
      { scanned: r.dryRun.scanned, changed: r.dryRun.changed, unchanged: r.dryRun.unchanged, skipped: r.dryRun.skipped, quarantined: r.dryRun.quarantined },
      want,
      `${id} dry-run counts`,
    );
    assert.equal(r.apply.apply.applied, want.changed, `${id} applied`);
    assert.equal(r.rollback.apply.applied, want.changed, `${id} restored`);
  }
  // After the rollbacks the "production" table is exactly as loaded, storage classes included.
  const fresh = join(mkdtempSync(join(tmpdir(), 'redress-demo-')), 'fresh.sqlite');
  loadMovies(fresh);
  assert.deepEqual(dump(join(__dirname, '..', '..', 'examples', 'movies', 'data', 'production.sqlite')), dump(fresh));
  rmSync(fresh, { force: true });
});
