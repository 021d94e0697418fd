// Loads the vega-datasets movies table (3,201 real films, BSD-3-Clause) into an SQLite file, as a
// generic JSON importer would: values keep their JSON types, so a title that is a number stays one.
import Database from 'better-sqlite3';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';

// The package exports only its JS entry; the data files sit beside it in data/.
export const MOVIES_JSON = join(dirname(require.resolve('vega-datasets')), '..', 'data', 'movies.json');

const COLUMNS: [string, string, string][] = [
  // [column, declared type, field in movies.json]
  ['title', '', 'Title'], // untyped, as the importer found mixed values
  ['us_gross', 'INTEGER', 'US Gross'],
  ['worldwide_gross', 'INTEGER', 'Worldwide Gross'],
  ['us_dvd_sales', 'INTEGER', 'US DVD Sales'],
  ['production_budget', 'INTEGER', 'Production Budget'],
  ['release_date', 'TEXT', 'Release Date'],
  ['mpaa_rating', 'TEXT', 'MPAA Rating'],
  ['running_time_min', 'INTEGER', 'Running Time min'],
  ['distributor', 'TEXT', 'Distributor'],
  ['source', 'TEXT', 'Source'],
  ['major_genre', 'TEXT', 'Major Genre'],
  ['creative_type', 'TEXT', 'Creative Type'],
  ['director', 'TEXT', 'Director'],
  ['rotten_tomatoes_rating', 'INTEGER', 'Rotten Tomatoes Rating'],
  ['imdb_rating', 'REAL', 'IMDB Rating'],
  ['imdb_votes', 'INTEGER', 'IMDB Votes'],
];

/** (Re)creates `file` with a `movies` table; returns the number of rows loaded. */
export function loadMovies(file: string): number {
  mkdirSync(dirname(file), { recursive: true });
  for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
  const rows = JSON.parse(readFileSync(MOVIES_JSON, 'utf8')) as Record<string, unknown>[];
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec(`CREATE TABLE movies (id INTEGER PRIMARY KEY, ${COLUMNS.map(([c, t]) => `${c} ${t}`.trim()).join(', ')})`);
  const ins = db.prepare(`INSERT INTO movies VALUES (?, ${COLUMNS.map(() => '?').join(', ')})`);
  db.transaction(() => rows.forEach((r, i) => ins.run(i + 1, ...COLUMNS.map(([, , f]) => toSql(r[f])))))();
  db.close();
  return rows.length;
}

function toSql(v: unknown): unknown {
  // JSON numbers that are whole are integers in the source; bind them as such.
  return typeof v === 'number' && Number.isInteger(v) ? BigInt(v) : (v ?? null);
}
