// CodeLenses over each correction's defineCorrection(...): Preview · Dry-run · Apply (local) · Open last run.
import * as vscode from 'vscode';
import { defineCorrectionLine } from './diagnosticRanges';

export class CorrectionLenses implements vscode.CodeLensProvider {
  provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    if (!doc.uri.fsPath.endsWith('.correction.ts')) return [];
    const line = defineCorrectionLine(doc.getText().split(/\r?\n/));
    const range = new vscode.Range(line, 0, line, 0);
    const lens = (title: string, command: string, tooltip: string) => new vscode.CodeLens(range, { title, command, tooltip, arguments: [doc.uri] });
    return [
      lens('$(eye) Preview', 'redress.preview', 'Run the correction on a sample of rows and show the diff (writes nothing)'),
      lens('$(run-all) Dry-run', 'redress.dryRun', 'Run over every selected row without writing; the result is a plan'),
      lens('$(database) Apply (local)', 'redress.applyLocal', "Apply this correction's latest plan to the workspace's target"),
      lens('$(history) Open last run', 'redress.openLastRun', 'Open the diff of the latest run of this correction'),
    ];
  }
}
