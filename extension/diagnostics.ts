// Compile and manifest problems as squiggles: on save (redress.compileOnSave), on "Check
// Correction", and from the errors of Preview and Dry-run (their data carries the diagnostics).
import * as vscode from 'vscode';
import { coerceError } from '../shared/errors';
import type { Diagnostic } from '../shared/protocol';
import type { Ctx } from './ctx';
import { diagnosticMessage, diagnosticRange } from './diagnosticRanges';

export const CORRECTION_GLOB = '**/*.correction.ts';

export function isCorrection(doc: { uri: vscode.Uri; languageId?: string }): boolean {
  return doc.uri.scheme === 'file' && doc.uri.fsPath.endsWith('.correction.ts');
}

export class Diagnostics implements vscode.Disposable {
  readonly collection = vscode.languages.createDiagnosticCollection('redress');
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly ctx: Ctx) {
    this.disposables.push(
      this.collection,
      vscode.workspace.onDidSaveTextDocument((doc) => {
        if (isCorrection(doc) && this.ctx.settings.compileOnSave) void this.check(doc.uri).catch(() => undefined);
      }),
      vscode.workspace.onDidCloseTextDocument((doc) => {
        if (isCorrection(doc)) this.collection.delete(doc.uri);
      }),
    );
  }

  /** Compiles through the daemon and shows what it found; returns the daemon's answer. */
  async check(uri: vscode.Uri): Promise<{ ok: boolean; diagnostics: Diagnostic[]; correctionId: string | null }> {
    const r = await this.ctx.request('compile', { correction: uri.fsPath, params: {} });
    await this.publish(uri, r.diagnostics);
    return r;
  }

  /** Shows the diagnostics of a COMPILE or MANIFEST error, if it has them; true if it did. */
  async fromError(uri: vscode.Uri, e: unknown): Promise<boolean> {
    const err = coerceError(e);
    const ds = err.data?.diagnostics;
    if ((err.code !== 'COMPILE' && err.code !== 'MANIFEST') || !Array.isArray(ds)) return false;
    await this.publish(uri, ds as Diagnostic[]);
    return true;
  }

  async publish(uri: vscode.Uri, ds: Diagnostic[]): Promise<void> {
    const byFile = new Map<string, vscode.Diagnostic[]>([[uri.fsPath, []]]);
    for (const d of ds) {
      const file = d.file || uri.fsPath;
      const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(file)).then(
        (x) => x,
        () => null,
      );
      const lines = doc ? doc.getText().split(/\r?\n/) : [];
      const r = diagnosticRange(d, lines);
      const vd = new vscode.Diagnostic(new vscode.Range(r.startLine, r.startCharacter, r.endLine, r.endCharacter), diagnosticMessage(d), d.severity === 'error' ? vscode.DiagnosticSeverity.Error : vscode.DiagnosticSeverity.Warning);
      vd.source = 'redress';
      if (!byFile.has(file)) byFile.set(file, []);
      byFile.get(file)!.push(vd);
    }
    for (const [file, list] of byFile) this.collection.set(vscode.Uri.file(file), list);
  }

  dispose(): void {
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}
