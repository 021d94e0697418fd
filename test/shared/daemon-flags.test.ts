// The young generation a daemon starts with depends on its workspace's target (shared/daemonFiles.ts):
// 16 MB semi-spaces for PostgreSQL (an apply keeps batches in flight), 4 MB for SQLite (the dry-run's
// memory target), and 4 MB when the config cannot be read (the daemon then reports the config itself).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { daemonNodeFlags } from '../../shared/daemonFiles';

test('a daemon gets the young generation its target needs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'redress-flags-'));
  try {
    assert.deepEqual(daemonNodeFlags(dir), ['--max-semi-space-size=4'], 'no config');
    writeFileSync(join(dir, 'redress.config.json'), JSON.stringify({ target: { kind: 'postgres', connectionString: 'postgres://x@h/db' } }));
    assert.deepEqual(daemonNodeFlags(dir), ['--max-semi-space-size=16']);
    writeFileSync(join(dir, 'redress.config.json'), JSON.stringify({ target: { kind: 'sqlite', path: 'data.db' } }));
    assert.deepEqual(daemonNodeFlags(dir), ['--max-semi-space-size=4']);
    writeFileSync(join(dir, 'redress.config.json'), '{ not json');
    assert.deepEqual(daemonNodeFlags(dir), ['--max-semi-space-size=4'], 'a broken config');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
