// A plan's content hash: over the compiled code, the manifest, the target's schema fingerprint, every
// planned row change (key, before and after hashes, before and after values, in key order: the rows
// hash) and, for targets that apply natively, the bytes of the sealed native plan file.
//
// The rows hash is over the hashes of the plan's pages (PAGE_ROWS changed rows each), recorded beside
// the plan: an apply through JavaScript checks the page list against the rows hash when it starts, and
// each page's rows against its hash as it reads them to write from that page. Nothing unreviewed is
// written, and the first write does not wait for a pass over the whole plan.
import { createHash } from 'node:crypto';
import { type Ledger, PAGE_ROWS, type PlanPage, type PlanRowRecord } from '../ledger/ledger';

export interface PlanHeader {
  codeHash: string;
  manifest: string;
  fingerprint: string;
  target: string;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * A page's text, what its hash is over: for each of its changed rows in seq order, "\n" and the row's
 * line (seq, key, before and after hashes, before and after values, NUL between). Built from the very
 * rows a run writes from, so what is checked is what is written. (SQLite built this text until the
 * check moved here, and handing it over cost more than building it from rows read anyway; a line with a
 * field missing is left out, as SQLite's `||` left it out, so plans made then hash the same.)
 */
export function pageText(rows: PlanRowRecord[]): string {
  let text = '';
  for (const r of rows) {
    if (r.key === null || r.before_hash === null || r.after_hash === null || r.before === null || r.after === null) continue;
    text += `\n${r.seq}\0${r.key}\0${r.before_hash}\0${r.after_hash}\0${r.before}\0${r.after}`;
  }
  return text;
}

/** The pages of a dry-run's changed plan rows with the hash of each, read from the ledger. */
export function planPageHashes(ledger: Ledger, dryRunId: string): PlanPage[] {
  const pages: PlanPage[] = [];
  for (let after = -1; ; ) {
    const rows = ledger.planRows(dryRunId, after, PAGE_ROWS, 'changed');
    if (rows.length === 0) return pages;
    after = rows[rows.length - 1]!.seq;
    pages.push({ last: after, rows: rows.length, hash: sha256(pageText(rows)) });
  }
}

export const rowsHashOf = (pages: PlanPage[]): string => sha256(JSON.stringify(['redress-rows/2', pages.map((p) => [p.last, p.rows, p.hash])]));

export function planContentHash(h: PlanHeader, rowsHash: string, nativeFileHash: string | null): string {
  return sha256(JSON.stringify(['redress-plan/2', h.codeHash, h.manifest, h.fingerprint, h.target, rowsHash, nativeFileHash]));
}

export const planIdOf = (contentHash: string) => `plan_${contentHash.slice(0, 16)}`;

/** Changed plan rows after seq `after`, at most `limit` of them, none past seq `upTo`. */
export type PlanRowReader = (after: number, limit: number, upTo?: number) => PlanRowRecord[];

/** What a page check found edited: the page of rows after seq `after` up to `upTo`, or rows added after the last page. */
export type PageEdit = { after: number; upTo: number } | { addedAfter: number };

/** A page edit as a run's error message says it. */
export function describeEdit(edit: PageEdit): string {
  if ('addedAfter' in edit) return `the ledger holds changed rows after its last planned row (seq ${edit.addedAfter})`;
  return `its rows ${edit.after < 0 ? '' : `after seq ${edit.after} `}up to seq ${edit.upTo} in the ledger were changed after it was made`;
}

/**
 * A dry-run's changed plan rows, read a page at a time and each page checked against its recorded hash
 * as it is read: a run writes from exactly the rows that were checked, read once. `pages` must already
 * be known to match the plan's rows hash. Throws `changed(edit)` for a page whose rows differ, and for
 * changed rows after the last page (rows added to the plan). `checkAll` checks every page.
 */
export function checkedPlanRows(ledger: Ledger, dryRunId: string, pages: PlanPage[], changed: (edit: PageEdit) => Error): { read: PlanRowReader; checkAll(): void } {
  const end = pages.length ? pages[pages.length - 1]!.last : -1;
  let cached: { index: number; rows: PlanRowRecord[] } | null = null; // a page batches share
  const page = (i: number): PlanRowRecord[] => {
    if (cached?.index === i) return cached.rows;
    const prev = i ? pages[i - 1]!.last : -1;
    // One row more than the page holds, so a row added inside the page shows as a wrong count.
    const rows = ledger.planRows(dryRunId, prev, pages[i]!.rows + 1, 'changed').filter((r) => r.seq <= pages[i]!.last);
    if (rows.length !== pages[i]!.rows || sha256(pageText(rows)) !== pages[i]!.hash) throw changed({ after: prev, upTo: pages[i]!.last });
    cached = { index: i, rows };
    return rows;
  };
  const noneAdded = () => {
    if (ledger.planRows(dryRunId, end, 1, 'changed').length) throw changed({ addedAfter: end });
  };
  const read: PlanRowReader = (after, limit, upTo = Infinity) => {
    let i = 0;
    for (let hi = pages.length; i < hi; ) {
      const mid = (i + hi) >> 1;
      if (pages[mid]!.last <= after) i = mid + 1;
      else hi = mid;
    }
    const out: PlanRowRecord[] = [];
    for (; i < pages.length && out.length < limit && (i === 0 || pages[i - 1]!.last < upTo); i++) {
      for (const r of page(i)) {
        if (r.seq <= after) continue;
        if (r.seq > upTo || out.push(r) === limit) break;
      }
    }
    if (out.length < limit && upTo > end) noneAdded();
    return out;
  };
  return {
    read,
    checkAll() {
      for (let i = 0; i < pages.length; i++) page(i);
      noneAdded();
    },
  };
}
