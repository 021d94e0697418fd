// What activate() returns: a handle for in-editor tests (and other extensions) to observe the
// extension without reaching into its modules.
import type { RunSummary } from '../shared/protocol';
import type { Ctx } from './ctx';
import type { Diagnostics } from './diagnostics';
import type { RunsView } from './runsView';
import type { DiffPanel } from './webview/panel';

export interface RedressApi {
  ctx: Ctx;
  runsView: RunsView;
  diagnostics: Diagnostics;
  panels(): DiffPanel[];
  /** The last error a command showed (tests of bad input look here). */
  lastError: { code: string; message: string } | null;
  /** The last run a command followed to its end. */
  lastRun: RunSummary | null;
}
