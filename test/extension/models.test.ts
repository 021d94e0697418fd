// Small pure parts of the extension: run actions by state, where squiggles go, workspace picking.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { RunSummary } from '../../shared/protocol';
import { defineCorrectionLine, diagnosticMessage, diagnosticRange } from '../../extension/diagnosticRanges';
import { capabilities, contextValue, runDescription, runIcon } from '../../extension/runsModel';
import { correctionsDir, pickWorkspace, validCorrectionId } from '../../extension/workspace';

const run = (o: Partial<RunSummary>): RunSummary => ({
  id: 'r1',
  kind: 'dry-run',
  correctionId: 'c',
  planId: null,
  parentRunId: null,
  status: 'completed',
  batchesDone: 3,
  totalRows: 1000,
  counts: { scanned: 1000, changed: 10, unchanged: 990, skipped: 0, quarantined: 0, changesPerColumn: {} },
  apply: { applied: 0, alreadyApplied: 0, drifted: 0 },
  concurrency: null,
  message: null,
  createdAt: '',
  updatedAt: '',
  ...o,
});

test('run actions follow the run state: pause/cancel only while it goes, resume when stopped, verify/rollback after apply', () => {
  assert.deepEqual(capabilities(run({ status: 'running' }), true), ['canOpen', 'canPause', 'canCancel']);
  assert.deepEqual(capabilities(run({ status: 'running' }), false), ['canOpen'], 'a run no daemon drives cannot be paused');
  assert.deepEqual(capabilities(run({ status: 'paused' }), false), ['canOpen', 'canResume', 'canCancel']);
  assert.deepEqual(capabilities(run({ status: 'failed' }), false), ['canOpen', 'canResume']);
  assert.deepEqual(capabilities(run({ kind: 'apply', status: 'completed' }), false), ['canOpen', 'canVerify', 'canRollback']);
  assert.deepEqual(capabilities(run({ kind: 'rollback', status: 'completed' }), false), ['canVerify']);
  assert.deepEqual(capabilities(run({ kind: 'apply', status: 'cancelled', batchesDone: 0 }), false), ['canOpen'], 'nothing written, nothing to roll back');
  assert.equal(contextValue(run({ status: 'paused' }), false), 'redressRun canOpen canResume canCancel');
  assert.equal(runDescription(run({ status: 'running', counts: { ...run({}).counts, scanned: 1500 }, totalRows: 3201 })), 'running · 1,500/3,201 · 10 to change');
  assert.equal(runIcon(run({ kind: 'verify', apply: { applied: 5, alreadyApplied: 0, drifted: 1 } })), 'warning');
});

test('squiggles: esbuild locations (1-based line, 0-based column), zod paths already located, or the defineCorrection call', () => {
  const lines = ['import x', 'export default defineCorrection({', "  id: 'Bad_Id',", '});'];
  assert.deepEqual(diagnosticRange({ severity: 'error', message: 'm', file: 'f', line: 3, column: 6, length: 8 }, lines), { startLine: 2, startCharacter: 6, endLine: 2, endCharacter: 14 });
  assert.deepEqual(diagnosticRange({ severity: 'error', message: 'm', file: 'f', line: 3, column: 2 }, lines), { startLine: 2, startCharacter: 2, endLine: 2, endCharacter: 15 }, 'no length: to the end of the line');
  assert.deepEqual(diagnosticRange({ severity: 'error', message: 'm', file: 'f', line: 99, column: 0, length: 1 }, lines).startLine, 3, 'clamped into the file');
  assert.deepEqual(diagnosticRange({ severity: 'error', message: 'm', file: 'f', path: ['options'] }, lines), { startLine: 1, startCharacter: 15, endLine: 1, endCharacter: 31 });
  assert.equal(diagnosticMessage({ severity: 'error', message: 'must be kebab-case', file: 'f', path: ['id'] }), 'id: must be kebab-case');
  assert.equal(defineCorrectionLine(lines), 1);
  assert.equal(defineCorrectionLine(['nothing here']), 0);
});

test('the workspace served is the first folder with redress.config.json; correctionsDir is read from it', () => {
  const a = mkdtempSync(join(tmpdir(), 'redress-ws-a-'));
  const b = mkdtempSync(join(tmpdir(), 'redress-ws-b-'));
  try {
    assert.equal(pickWorkspace([a, b]), a, 'no config anywhere: the first folder');
    writeFileSync(join(b, 'redress.config.json'), JSON.stringify({ target: { kind: 'sqlite', path: 'x.sqlite' }, correctionsDir: 'fixes' }));
    mkdirSync(join(b, 'fixes'));
    assert.equal(pickWorkspace([a, b]), b);
    assert.equal(pickWorkspace([]), null);
    assert.equal(correctionsDir(b), join(b, 'fixes'));
    assert.equal(correctionsDir(a), join(a, 'corrections'));
    writeFileSync(join(a, 'redress.config.json'), '{ broken');
    assert.equal(correctionsDir(a), join(a, 'corrections'), 'a broken config: the default');
  } finally {
    rmSync(a, { recursive: true, force: true });
    rmSync(b, { recursive: true, force: true });
  }
});

test('correction ids are kebab-case, as the manifest requires', () => {
  assert.equal(validCorrectionId('fix-release-dates'), null);
  assert.match(validCorrectionId('Fix_Dates') ?? '', /kebab-case/);
  assert.match(validCorrectionId('') ?? '', /kebab-case/);
  assert.match(validCorrectionId('-x') ?? '', /kebab-case/);
});
