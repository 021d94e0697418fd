// Following a run to its end in a withProgress notification. Cancelling the notification cancels the
// run in the daemon (it stops at the next batch boundary) and the notification stays until it has.
import * as vscode from 'vscode';
import { coerceError } from '../shared/errors';
import { FINAL_STATUSES, type RunEvent, type RunSummary } from '../shared/protocol';
import type { Ctx } from './ctx';

const STOPPED = (s: RunSummary['status']) => FINAL_STATUSES.includes(s) || s === 'paused' || s === 'interrupted';

export interface FollowHooks {
  /** Each progress event, after the notification shows it. */
  onProgress?: (r: { scanned: number; total: number | null; changed: number }) => void;
  /** Called once with the notification's cancel, for tests that cancel like a person does. */
  onCancelHandle?: (cancel: () => void) => void;
}

export async function followRun(ctx: Ctx, runId: string, title: string, hooks: FollowHooks = {}): Promise<RunSummary> {
  return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, async (progress, token) => {
    const first = await ctx.request('run', { runId });
    if (STOPPED(first.status)) return first;
    const total = first.totalRows;
    let reported = 0;
    let lastSeq = 0;
    let cancelAsked = false;
    const cancel = () => {
      if (cancelAsked) return;
      cancelAsked = true;
      progress.report({ message: 'cancelling at the next batch boundary…' });
      ctx.request('cancel', { runId }).catch((e: unknown) => ctx.logs.error(`cancel ${runId}: ${coerceError(e).message}`));
    };
    hooks.onCancelHandle?.(cancel);
    const cleanups: (() => void)[] = [];
    try {
      return await new Promise<RunSummary>((resolve, reject) => {
        let settled = false;
        const finish = (r: RunSummary) => {
          if (settled) return;
          settled = true;
          resolve(r);
        };
        const check = () =>
          ctx.request('run', { runId }).then((r) => {
            if (STOPPED(r.status)) finish(r);
          });
        const onEvent = (e: RunEvent) => {
          if (e.runId !== runId || e.seq <= lastSeq) return;
          lastSeq = e.seq;
          if (e.kind === 'progress') {
            const counts = (e.data as { counts?: { scanned: number; changed: number } }).counts;
            if (!counts) return;
            const pct = total ? Math.min(100, (counts.scanned / total) * 100) : 0;
            if (!cancelAsked) progress.report({ increment: pct - reported, message: `${counts.scanned.toLocaleString('en-US')}${total !== null ? ` / ${total.toLocaleString('en-US')}` : ''} rows · ${counts.changed.toLocaleString('en-US')} to change` });
            reported = pct;
            hooks.onProgress?.({ scanned: counts.scanned, total, changed: counts.changed });
          } else if (e.kind !== 'started' && e.kind !== 'resumed' && e.kind !== 'quarantined') {
            check().catch((err: unknown) => reject(err));
          }
        };
        cleanups.push(ctx.session.onRunEvent(onEvent));
        const subscribe = () => ctx.request('subscribe', { runId, fromSeq: lastSeq }).then(() => check());
        // After a reconnect, pick up from the last event seen.
        cleanups.push(ctx.session.onConnected(() => void subscribe().catch(() => undefined)));
        cleanups.push(() => void ctx.session.client?.request('unsubscribe', { runId }).catch(() => undefined));
        token.onCancellationRequested(cancel);
        subscribe().catch(reject);
      });
    } finally {
      for (const c of cleanups) c();
    }
  });
}

/** One line for a finished run. */
export function runOutcome(r: RunSummary): string {
  const c = r.counts;
  const counts = `${c.scanned.toLocaleString('en-US')} scanned, ${c.changed.toLocaleString('en-US')} changed, ${c.unchanged.toLocaleString('en-US')} unchanged, ${c.skipped.toLocaleString('en-US')} skipped, ${c.quarantined.toLocaleString('en-US')} quarantined`;
  const apply = r.kind === 'dry-run' ? '' : ` Applied ${r.apply.applied}, already ${r.apply.alreadyApplied}, drifted ${r.apply.drifted}.`;
  return `${r.kind} ${r.status}: ${counts}.${apply}${r.message ? ` ${r.message}` : ''}`;
}
