// Entry of the in-editor suite (bundled to one file; @vscode/test-electron's `run()` contract).
import { mochaRun } from '../inHostMocha';
import { redressTests } from './redress.tests';

export const run = mochaRun(() => redressTests(), { timeout: 60_000 });
