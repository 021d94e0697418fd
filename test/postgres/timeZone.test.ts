// The daemon's time zone never shows in results (DESIGN.md safety contract 9): two daemons, one in
// Asia/Kathmandu (+05:45) and one in America/St_Johns (-03:30/-02:30), run the same correction over
// timestamp, timestamptz, date and time columns. Values are read as the server's UTC text and written back
// as text, and transforms run in UTC, so a transform that parses a timestamp with JavaScript's Date, uses
// its local getters and returns Dates plans the same changes in both (value for value),
// writes exactly the values computed in UTC, and an identity transform plans nothing in either.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { dryRun, runToEnd, startTestDaemon, type RunningDaemon, type Workspace } from '../helpers/harness';
import { pgSchema, pgWorkspace, tableText, type PgSchema } from '../helpers/pg';

let s: PgSchema;
const daemons: RunningDaemon[] = [];
const workspaces: ReturnType<typeof pgWorkspace>[] = [];

before(async () => {
  s = await pgSchema('tz');
  await s.sql(`CREATE TABLE events (id int4 PRIMARY KEY, ts timestamp NOT NULL, tstz timestamptz NOT NULL, d date NOT NULL, t time NOT NULL, label text)`);
  await s.sql(`INSERT INTO events VALUES
    (1, '2020-01-01 05:00:00.123456', '2020-06-30 23:30:00.654321+00', '2020-02-29', '23:59:59.999999', NULL),
    (2, '1999-12-31 23:59:59.5', '2021-03-28 01:30:00+01', '2000-01-01', '00:00:00', NULL),
    (3, '2024-07-15 12:00:00', '2024-11-03 06:15:00.000001+00', '2024-12-31', '12:34:56.789', NULL)`);
});
after(async () => {
  for (const d of daemons) await d.stop().catch(() => {});
  for (const w of workspaces) w.cleanup();
  await s?.drop();
});

const SHIFT = `import { defineCorrection } from 'redress';
export default defineCorrection<{ id: number; ts: string; tstz: string; d: string; t: string; label: string | null }>({
  id: 'shift-events', description: 'one hour later, with a label from the local getters', target: { table: 'events', key: 'id' },
  expects: { ts: 'timestamp', tstz: 'timestamp', d: 'date' },
  transform(row) {
    const ts = new Date(row.ts.replace(' ', 'T'));                // no offset: JavaScript reads it as local time
    const tstz = new Date(row.tstz.replace(' ', 'T').replace(/([+-]\\d\\d)$/, '$1:00'));
    const d = new Date(row.d + 'T00:00:00');                      // local midnight
    return {
      ts: new Date(ts.getTime() + 3_600_000),
      tstz: new Date(tstz.getTime() + 3_600_000),
      d: new Date(d.getFullYear(), d.getMonth(), d.getDate() + 1),
      label: ts.getFullYear() + '/' + (ts.getMonth() + 1) + '/' + ts.getDate() + ' ' + ts.getHours() + 'h ' + ts.getTimezoneOffset() + ' ' + row.t,
    };
  },
});`;
const IDENTITY = `import { defineCorrection } from 'redress';
export default defineCorrection({ id: 'identity-events', description: 'identity', target: { table: 'events', key: 'id' }, expects: {},
  transform: (row) => ({ ...row }) });`;

async function daemonIn(tz: string): Promise<{ d: RunningDaemon; ws: ReturnType<typeof pgWorkspace> }> {
  const ws = pgWorkspace(s, 'redress-tz-');
  workspaces.push(ws);
  const d = await startTestDaemon(ws as unknown as Workspace, { env: { ...process.env, TZ: tz } });
  daemons.push(d);
  return { d, ws };
}

test('timestamp and timestamptz results do not depend on the daemon\'s time zone', async () => {
  const original = await tableText(s, 'events', 'id');
  const east = await daemonIn('Asia/Kathmandu');
  const west = await daemonIn('America/St_Johns');

  for (const { d, ws } of [east, west]) {
    const id = await dryRun(d.client, ws.correction('identity-events', IDENTITY));
    assert.deepEqual([id.counts.changed, id.counts.quarantined], [0, 0], 'reading and handing back changes nothing');
  }
  const planEast = await dryRun(east.d.client, east.ws.correction('shift-events', SHIFT));
  const planWest = await dryRun(west.d.client, west.ws.correction('shift-events', SHIFT));
  assert.equal(planEast.counts.changed, 3);
  const planned = async (d: RunningDaemon, runId: string) => (await d.client.request('diffs', { runId, status: 'changed' })).rows;
  assert.deepEqual(await planned(west.d, planWest.id), await planned(east.d, planEast.id), 'the same planned changes, value for value, in both zones');

  const applied = await runToEnd(east.d.client, east.d.client.request('apply', { planId: planEast.planId! }));
  assert.equal(applied.status, 'completed', applied.message ?? '');
  const rows = (await s.sql(`SELECT id, ts::text, tstz::text, d::text, label FROM events ORDER BY id`)).rows;
  assert.deepEqual(rows, [
    { id: 1, ts: '2020-01-01 06:00:00.123', tstz: '2020-07-01 00:30:00.654+00', d: '2020-03-01', label: '2020/1/1 5h 0 23:59:59.999999' },
    { id: 2, ts: '2000-01-01 00:59:59.5', tstz: '2021-03-28 01:30:00+00', d: '2000-01-02', label: '1999/12/31 23h 0 00:00:00' },
    { id: 3, ts: '2024-07-15 13:00:00', tstz: '2024-11-03 07:15:00+00', d: '2025-01-01', label: '2024/7/15 12h 0 12:34:56.789' },
  ]);

  const rolled = await runToEnd(west.d.client, west.d.client.request('apply', { planId: planWest.planId! }));
  assert.equal(rolled.apply.alreadyApplied, 3, 'the other zone\'s daemon finds its plan already applied, value for value');
  const back = await runToEnd(east.d.client, east.d.client.request('rollback', { runId: applied.id }));
  assert.equal(back.apply.applied, 3);
  assert.deepEqual(await tableText(s, 'events', 'id'), original);
});
