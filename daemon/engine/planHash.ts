// A plan's content hash: over the compiled code, the manifest, the target's schema fingerprint, every
// planned row change (key, before and after hashes, before and after values, in key order: the rows
// hash) and, for targets that apply natively, the bytes of the sealed native plan file.
//
// The rows hash is over the hashes of the plan's pages (PAGE_ROWS changed rows each), recorded beside
// the plan: an apply through JavaScript checks the page list against the rows hash when it starts, and
// each page's text against its hash just before it writes from that page. Nothing unreviewed is written,
// and the first write does not wait for a pass over the whole plan.
import { createHash } from 'node:crypto';
import type { Ledger, PlanPage } from '../ledger/ledger';

export interface PlanHeader {
  codeHash: string;
  manifest: string;
  fingerprint: string;
  target: string;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The pages of a dry-run's changed plan rows with the hash of each, read from the ledger. */
export function planPageHashes(ledger: Ledger, dryRunId: string): PlanPage[] {
  const pages: PlanPage[] = [];
  for (const p of ledger.planHashPages(dryRunId)) pages.push({ last: p.last, rows: p.rows, hash: sha256(p.text) });
  return pages;
}

export const rowsHashOf = (pages: PlanPage[]): string => sha256(JSON.stringify(['redress-rows/2', pages.map((p) => [p.last, p.rows, p.hash])]));

export function planContentHash(h: PlanHeader, rowsHash: string, nativeFileHash: string | null): string {
  return sha256(JSON.stringify(['redress-plan/2', h.codeHash, h.manifest, h.fingerprint, h.target, rowsHash, nativeFileHash]));
}

export const planIdOf = (contentHash: string) => `plan_${contentHash.slice(0, 16)}`;

/** Checks the pages holding the changed plan rows after seq `after` up to `upTo` (null: to the end). */
export type PageCheck = (after: number, upTo: number | null) => void;

/** What a page check found edited: the page of rows after seq `after` up to `upTo`, or rows added after the last page. */
export type PageEdit = { after: number; upTo: number } | { addedAfter: number };

/** A page edit as a run's error message says it. */
export function describeEdit(edit: PageEdit): string {
  if ('addedAfter' in edit) return `the ledger holds changed rows after its last planned row (seq ${edit.addedAfter})`;
  return `its rows ${edit.after < 0 ? '' : `after seq ${edit.after} `}up to seq ${edit.upTo} in the ledger were changed after it was made`;
}

/**
 * Checks plan pages against their recorded hashes, each page once, on demand. `pages` must already be
 * known to match the plan's rows hash. Throws `changed(edit)` for the first page whose text differs, and
 * for changed rows after the last page (rows added to the plan).
 */
export function pageChecker(ledger: Ledger, dryRunId: string, pages: PlanPage[], changed: (edit: PageEdit) => Error): PageCheck {
  const checked = new Set<number>();
  const end = pages.length ? pages[pages.length - 1]!.last : -1;
  return (after, upTo) => {
    const to = upTo ?? end;
    if (to <= after) return;
    let lo = 0;
    for (let hi = pages.length; lo < hi; ) {
      const mid = (lo + hi) >> 1;
      if (pages[mid]!.last <= after) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < pages.length; i++) {
      const prev = i ? pages[i - 1]!.last : -1;
      if (!checked.has(i)) {
        const now = ledger.planPageText(dryRunId, prev, pages[i]!.last, pages[i]!.rows + 1);
        if (now.rows !== pages[i]!.rows || sha256(now.text) !== pages[i]!.hash) throw changed({ after: prev, upTo: pages[i]!.last });
        checked.add(i);
      }
      if (pages[i]!.last >= to) return;
    }
    throw changed({ addedAfter: end });
  };
}
