// Messages between the diff viewer webview and the extension, as zod schemas; both sides parse every
// message they receive (a message that does not parse is dropped and logged, never acted on). Each
// side numbers what it sends (seq); replies name the request they answer (re), so the webview can
// drop a page that arrives after a newer request. The extension posts nothing before `ready`.
import { z } from 'zod';
import { RowDiff, RowStatus, Summary } from '../../shared/protocol';

/** Longest text filter; also bounds what a compromised webview can make the extension do. */
export const MAX_FILTER_TEXT = 200;
export const MAX_PAGE_ROWS = 1000;
/** Messages larger than this from the webview are dropped unread. */
export const MAX_WEBVIEW_MESSAGE_BYTES = 64 * 1024;

export const Filter = z
  .object({
    status: RowStatus.optional(),
    column: z.string().min(1).max(256).optional(),
    text: z.string().min(1).max(MAX_FILTER_TEXT).optional(),
  })
  .strict();
export type Filter = z.infer<typeof Filter>;

export const ViewInfo = z.object({
  kind: z.enum(['preview', 'run']),
  title: z.string(),
  correctionId: z.string(),
  runId: z.string().nullable(),
  runKind: z.string().nullable(),
  status: z.string().nullable(),
  /** Rows looked at: the sample for a preview, the total for a run. */
  sampleSize: z.number().int().nullable(),
  totalRows: z.number().int().nullable(),
  summary: Summary,
  /** Row diffs available to page through (everything but unchanged rows). */
  diffCount: z.number().int(),
  planId: z.string().nullable(),
  contentHash: z.string().nullable(),
  message: z.string().nullable(),
  durationMs: z.number().nullable(),
  target: z.string().nullable(),
});
export type ViewInfo = z.infer<typeof ViewInfo>;

export const ToWebview = z.discriminatedUnion('type', [
  z.object({ type: z.literal('init'), seq: z.number().int(), view: ViewInfo }),
  z.object({ type: z.literal('update'), seq: z.number().int(), view: ViewInfo }),
  z.object({ type: z.literal('page'), seq: z.number().int(), re: z.number().int(), offset: z.number().int(), total: z.number().int(), rows: z.array(RowDiff) }),
  z.object({ type: z.literal('error'), seq: z.number().int(), re: z.number().int().nullable(), message: z.string() }),
  z.object({ type: z.literal('exported'), seq: z.number().int(), re: z.number().int(), path: z.string() }),
]);
export type ToWebview = z.infer<typeof ToWebview>;

export const FromWebview = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready'), seq: z.number().int().nonnegative() }).strict(),
  z
    .object({
      type: z.literal('page'),
      seq: z.number().int().nonnegative(),
      offset: z.number().int().min(0).max(10_000_000),
      limit: z.number().int().min(1).max(MAX_PAGE_ROWS),
      filter: Filter,
    })
    .strict(),
  z.object({ type: z.literal('export'), seq: z.number().int().nonnegative(), format: z.enum(['markdown', 'html']) }).strict(),
  /** A page is on screen (for the extension's timing of Preview: command to first diff rendered). */
  z.object({ type: z.literal('rendered'), seq: z.number().int().nonnegative(), re: z.number().int(), rows: z.number().int(), total: z.number().int() }).strict(),
]);
export type FromWebview = z.infer<typeof FromWebview>;

/** Parses a message from the webview; null (and why) when it is not one. */
export function parseFromWebview(raw: unknown): { ok: true; msg: FromWebview } | { ok: false; why: string } {
  let size = 0;
  try {
    size = JSON.stringify(raw)?.length ?? 0;
  } catch {
    return { ok: false, why: 'not serialisable' };
  }
  if (size > MAX_WEBVIEW_MESSAGE_BYTES) return { ok: false, why: `${size} bytes, more than ${MAX_WEBVIEW_MESSAGE_BYTES}` };
  const r = FromWebview.safeParse(raw);
  return r.success ? { ok: true, msg: r.data } : { ok: false, why: r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ') };
}

/**
 * Accepts each sequence number once, in increasing order (replayed or reordered messages are dropped).
 * A webview that is reloaded (or recreated) starts numbering at 1 again and says `ready` first: that
 * `ready` starts a new session, so the gate starts over instead of dropping everything after it.
 */
export class SeqGate {
  private last = -1;
  accept(seq: number): boolean {
    if (seq <= this.last) return false;
    this.last = seq;
    return true;
  }

  /** What the panel calls for each parsed message: `ready` resets the gate, then the usual check. */
  admit(m: Pick<FromWebview, 'type' | 'seq'>): boolean {
    if (m.type === 'ready') this.reset();
    return this.accept(m.seq);
  }

  reset(): void {
    this.last = -1;
  }
}
