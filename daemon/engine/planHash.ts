// A plan's content hash: over the compiled code, the manifest, the target's schema fingerprint, every
// planned row change (key, before and after hashes, before and after values, in key order: the rows
// hash) and, for targets that apply natively, the bytes of the sealed native plan file.
import { createHash } from 'node:crypto';
import type { Ledger } from '../ledger/ledger';

export interface PlanHeader {
  codeHash: string;
  manifest: string;
  fingerprint: string;
  target: string;
}

/** The hash of a dry-run's changed plan rows, read from the ledger in pages. */
export function planRowsHash(ledger: Ledger, dryRunId: string): { hash: string; changes: number } {
  const hash = createHash('sha256');
  let changes = 0;
  for (const page of ledger.planHashPages(dryRunId)) {
    hash.update(page.text);
    changes += page.rows;
  }
  return { hash: hash.digest('hex'), changes };
}

export function planContentHash(h: PlanHeader, rowsHash: string, nativeFileHash: string | null): string {
  return createHash('sha256')
    .update(JSON.stringify(['redress-plan/2', h.codeHash, h.manifest, h.fingerprint, h.target, rowsHash, nativeFileHash]))
    .digest('hex');
}

export const planIdOf = (contentHash: string) => `plan_${contentHash.slice(0, 16)}`;
