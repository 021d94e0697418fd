// A throwaway copy of examples/movies with its real-data database, for one end-to-end run.
// Runs in the test runner (Node 20), never in the extension host.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadMovies } from '../../../examples/load-movies';
import { repoRoot } from '../paths';

export interface MoviesWorkspace {
  path: string;
  remove(): void;
}

/** `<tmp>/movies`: redress.config.json, corrections/ (the three real-data corrections), data/production.sqlite. */
export function moviesWorkspace(): MoviesWorkspace {
  const parent = mkdtempSync(join(tmpdir(), 'redress-vscode-movies-'));
  const path = join(parent, 'movies');
  cpSync(join(repoRoot, 'examples', 'movies'), path, { recursive: true, filter: (src) => !/[\\/](\.redress|data)([\\/]|$)/.test(src.slice(join(repoRoot, 'examples', 'movies').length)) });
  loadMovies(join(path, 'data', 'production.sqlite'));
  return { path, remove: () => rmSync(parent, { recursive: true, force: true }) };
}
