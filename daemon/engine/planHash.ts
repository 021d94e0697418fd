// A plan's content hash: over the compiled code, the manifest, the target's schema fingerprint and
// every planned row change (key, before and after hashes, before and after values), in key order.
import { createHash } from 'node:crypto';
import type { Ledger } from '../ledger/ledger';

export interface PlanHeader {
  codeHash: string;
  manifest: string;
  fingerprint: string;
  target: string;
}

export function planContentHash(ledger: Ledger, dryRunId: string, h: PlanHeader): { hash: string; changes: number } {
  const hash = createHash('sha256');
  hash.update(JSON.stringify(['redress-plan/1', h.codeHash, h.manifest, h.fingerprint, h.target]));
  let changes = 0;
  for (const page of ledger.planHashPages(dryRunId)) {
    hash.update(page.text);
    changes += page.rows;
  }
  return { hash: hash.digest('hex'), changes };
}

export const planIdOf = (contentHash: string) => `plan_${contentHash.slice(0, 16)}`;
