// The status bar's text per daemon state: every state reads differently.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DaemonState } from '../../extension/session';
import { statusView } from '../../extension/statusView';

const states: DaemonState[] = [
  { kind: 'stopped' },
  { kind: 'starting', detail: 'starting the daemon' },
  { kind: 'connected', pid: 42, version: '0.1.0', started: true },
  { kind: 'down', message: 'The daemon exited.', gaveUp: false, retryInMs: 500 },
  { kind: 'down', message: 'The daemon went away 4 times.', gaveUp: true },
];

test('each daemon state has its own status bar text (stopped and connected are told apart)', () => {
  const texts = states.map((s) => statusView(s).text);
  assert.equal(new Set(texts).size, texts.length, texts.join(' / '));
  assert.match(statusView({ kind: 'stopped' }).text, /stopped/);
  assert.match(statusView(states[2]!).text, /connected/);
  assert.match(statusView(states[2]!).tooltip, /pid 42 \(v0\.1\.0\)/);
  assert.deepEqual(
    states.map((s) => statusView(s).severity),
    ['none', 'none', 'none', 'warning', 'error'],
  );
});
