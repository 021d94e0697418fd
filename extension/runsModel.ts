// How a run shows in the Runs view, and which actions it allows (pure; runsView.ts draws it).
import type { RunSummary } from '../shared/protocol';

export type Capability = 'canOpen' | 'canPause' | 'canResume' | 'canCancel' | 'canVerify' | 'canRollback';

export function capabilities(r: RunSummary, active: boolean): Capability[] {
  const caps: Capability[] = [];
  if (r.kind === 'dry-run' || r.kind === 'apply') caps.push('canOpen');
  if (r.status === 'running' && active) caps.push('canPause', 'canCancel');
  if (['paused', 'interrupted', 'halted', 'failed'].includes(r.status)) caps.push('canResume');
  if (['paused', 'interrupted', 'halted'].includes(r.status)) caps.push('canCancel');
  const settled = r.status !== 'running';
  if (settled && (r.kind === 'apply' || r.kind === 'rollback') && r.batchesDone > 0) caps.push('canVerify');
  if (settled && r.kind === 'apply' && r.batchesDone > 0) caps.push('canRollback');
  return caps;
}

/** The tree item's contextValue: package.json's menus match capabilities with `viewItem =~ /canX/`. */
export function contextValue(r: RunSummary, active: boolean): string {
  return ['redressRun', ...capabilities(r, active)].join(' ');
}

export function runLabel(r: RunSummary): string {
  return `${r.kind} ${r.correctionId}`;
}

export function runDescription(r: RunSummary): string {
  const progress = r.totalRows ? `${r.counts.scanned.toLocaleString('en-US')}/${r.totalRows.toLocaleString('en-US')}` : `${r.counts.scanned.toLocaleString('en-US')} rows`;
  const what = r.kind === 'dry-run' ? `${r.counts.changed.toLocaleString('en-US')} to change` : `${r.apply.applied.toLocaleString('en-US')} applied${r.apply.drifted ? `, ${r.apply.drifted} drifted` : ''}`;
  return `${r.status} · ${progress} · ${what}`;
}

export function runIcon(r: RunSummary): string {
  switch (r.status) {
    case 'running':
      return 'loading~spin';
    case 'completed':
      return r.kind === 'verify' && r.apply.drifted > 0 ? 'warning' : 'pass';
    case 'paused':
    case 'interrupted':
      return 'debug-pause';
    case 'cancelled':
      return 'circle-slash';
    case 'halted':
    case 'failed':
      return 'error';
  }
}

export function runTooltip(r: RunSummary): string {
  return [
    `${r.kind} ${r.id} of ${r.correctionId}: ${r.status}`,
    r.message ?? '',
    `scanned ${r.counts.scanned}, changed ${r.counts.changed}, unchanged ${r.counts.unchanged}, skipped ${r.counts.skipped}, quarantined ${r.counts.quarantined}`,
    r.kind !== 'dry-run' ? `applied ${r.apply.applied}, already applied ${r.apply.alreadyApplied}, drifted ${r.apply.drifted}` : '',
    r.planId ? `plan ${r.planId}` : '',
    `started ${r.createdAt}, updated ${r.updatedAt}`,
  ]
    .filter(Boolean)
    .join('\n');
}
