// In-editor tests: they run inside VS Code's extension host, next to the Redress extension under
// development, on a copy of examples/movies (real data: 3,201 films). The daemon is real.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { RedressApi } from '../../../extension/api';
import type { Result, RunSummary } from '../../../shared/protocol';
import type { DiffPanel, Rendered } from '../../../extension/webview/panel';

type PreviewResult = Result<'preview'> & { startedAt: number; panel: DiffPanel; rendered: Promise<Rendered> };

const EXTENSION_ID = 'redress.redress';

function folder(): string {
  const f = vscode.workspace.workspaceFolders?.[0];
  assert.ok(f, 'no workspace folder');
  return f.uri.fsPath;
}

const correction = (name: string) => vscode.Uri.file(join(folder(), 'corrections', `${name}.correction.ts`));

/** Resolves when `check` holds after a change of the Problems panel (or at once). */
function diagnosticsFor(uri: vscode.Uri, check: (d: readonly vscode.Diagnostic[]) => boolean, timeoutMs = 30_000): Promise<readonly vscode.Diagnostic[]> {
  return new Promise((resolve, reject) => {
    const now = vscode.languages.getDiagnostics(uri);
    if (check(now)) return resolve(now);
    const timer = setTimeout(() => (sub.dispose(), reject(new Error(`diagnostics for ${uri.fsPath} never matched; last: ${JSON.stringify(vscode.languages.getDiagnostics(uri).map((d) => d.message))}`))), timeoutMs);
    const sub = vscode.languages.onDidChangeDiagnostics((e) => {
      if (!e.uris.some((u) => u.toString() === uri.toString())) return;
      const d = vscode.languages.getDiagnostics(uri);
      if (check(d)) {
        clearTimeout(timer);
        sub.dispose();
        resolve(d);
      }
    });
  });
}

/** Polls `check` every 50 ms until it holds; rejects after `timeoutMs` naming `what`. */
async function until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const t0 = performance.now();
  while (!check()) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export function redressTests(): void {
  let api: RedressApi;
  let dryRunId = '';

  describe('Redress in a real VS Code, on the movies example', () => {
    it('activates on the workspace (redress.config.json and corrections/) by itself, and registers its commands', async () => {
      // Nothing in this suite activates the extension: the workspace's activation events must.
      const ext = vscode.extensions.getExtension<RedressApi>(EXTENSION_ID);
      assert.ok(ext, `${EXTENSION_ID} is not loaded`);
      await until(`${EXTENSION_ID} activated by its activation events`, () => ext.isActive);
      api = ext.exports;
      assert.ok(api, 'activate() returned no API');
      assert.equal(api.ctx.workspace, folder());
      const commands = await vscode.commands.getCommands(true);
      for (const id of ['redress.preview', 'redress.dryRun', 'redress.applyLocal', 'redress.showLogs']) assert.ok(commands.includes(id), `${id} is not registered`);
      // The copy of examples/movies has no .redress/ yet: no daemon has run here.
      assert.equal(existsSync(join(folder(), '.redress')), false, 'the workspace already has .redress/');
    });

    it('Preview through the command: the counts the daemon reports arrive in the extension and the diff viewer', async () => {
      const t0 = performance.now();
      const r = (await vscode.commands.executeCommand('redress.preview', correction('fix-release-century'), { sampleSize: 5000 })) as PreviewResult | undefined;
      assert.ok(r, `preview returned nothing: ${JSON.stringify(api.lastError)}`);
      assert.equal(r.correctionId, 'fix-release-century');
      assert.equal(r.summary.scanned, 3201);
      assert.equal(r.summary.changed, 22);
      assert.equal(r.summary.quarantined, 0);
      assert.deepEqual(r.summary.changesPerColumn, { release_date: 22 });
      const duel = r.diffs.find((d) => d.changes.release_date?.before === 'Dec 31 2046');
      assert.ok(duel, 'the Duel in the Sun row (Dec 31 2046) is not among the diffs');
      assert.equal(duel.changes.release_date!.after, 'Dec 31 1946');
      assert.equal(api.ctx.state.kind, 'connected');
      // The webview drew the first page: same numbers as the daemon gave.
      const drawn = await r.rendered;
      assert.equal(r.panel.view.summary.changed, 22);
      assert.equal(drawn.total, r.diffs.length);
      assert.ok(drawn.rows > 0);
      console.log(`    preview (sample 5000): daemon ${Math.round(r.durationMs)} ms, command to first page drawn ${Math.round(drawn.at - t0)} ms`);
    });

    it("follows the daemon's log into the output channel on a workspace that had no .redress/ at activation", async () => {
      // .redress/ was made by the daemon the preview above started, after the extension activated.
      assert.ok(existsSync(join(folder(), '.redress', 'daemon.log')), 'the daemon wrote no log');
      await until('daemon log lines in the Redress output channel', () => api.ctx.logs.daemonLines > 0, 15_000);
      assert.equal(api.ctx.logs.following, true);
    });

    it('Preview round trip with the default sample, warm: command to first diff drawn', async () => {
      // The first run of this correction compiles it and opens its panel; the next ones are warm.
      const runs = 6;
      const totals: number[] = [];
      const daemon: number[] = [];
      for (let i = 0; i < runs; i++) {
        const r = (await vscode.commands.executeCommand('redress.preview', correction('release-date-iso'))) as PreviewResult | undefined;
        assert.ok(r, JSON.stringify(api.lastError));
        const drawn = await r.rendered;
        assert.equal(r.sampleSize, 200);
        console.log(`    preview round trip ${i + 1}: daemon ${Math.round(r.durationMs)} ms, first diff drawn after ${Math.round(drawn.at - r.startedAt)} ms`);
        if (i === 0) continue;
        totals.push(drawn.at - r.startedAt);
        daemon.push(r.durationMs);
      }
      assert.ok(totals.every((t) => Number.isFinite(t) && t > 0));
      assert.ok(daemon.every((t, i) => t <= totals[i]!), 'the daemon part is part of the round trip');
      // One line to quote; run.ts repeats it at the end of the e2e run.
      console.log(
        `    PREVIEW ROUND TRIP (release-date-iso, sample 200, warm, median of ${totals.length}): command to first diff drawn ${Math.round(median(totals))} ms, of which daemon ${Math.round(median(daemon))} ms`,
      );
    });

    it('Dry-run through the command follows the run to its end; the plan pages from the daemon', async () => {
      const run = (await vscode.commands.executeCommand('redress.dryRun', correction('fix-release-century'), { batchSize: 500 })) as RunSummary | undefined;
      assert.ok(run, JSON.stringify(api.lastError));
      assert.equal(run.status, 'completed');
      assert.equal(run.counts.scanned, 3201);
      assert.equal(run.counts.changed, 22);
      assert.ok(run.planId);
      dryRunId = run.id;
      const panel = (await vscode.commands.executeCommand('redress.openRun', run.id)) as DiffPanel;
      const drawn = await panel.nextRender();
      assert.equal(panel.view.diffCount, 3201); // changed + skipped rows are in the plan's rows
      assert.equal(drawn.total, 3201);
      assert.ok(panel.view.contentHash && /^[0-9a-f]{16,}/.test(panel.view.contentHash), `content hash ${panel.view.contentHash}`);
      const runs = await api.runsView.refresh();
      assert.ok(runs.some((r) => r.id === run.id));
    });

    it('Apply (local), Verify and Roll Back through the commands; the Runs view offers what each run allows', async () => {
      const applied = (await vscode.commands.executeCommand('redress.applyLocal', correction('fix-release-century'), { confirmed: true })) as RunSummary | undefined;
      assert.ok(applied, JSON.stringify(api.lastError));
      assert.equal(applied.kind, 'apply');
      assert.equal(applied.status, 'completed');
      assert.deepEqual(applied.apply, { applied: 22, alreadyApplied: 0, drifted: 0 });
      const runs = await api.runsView.refresh();
      const item = api.runsView.getChildren().find((i) => i.run.id === applied.id)!;
      assert.match(String(item.contextValue), /canVerify.*canRollback|canRollback.*canVerify/);
      assert.ok(runs.length >= 2);
      const verified = (await vscode.commands.executeCommand('redress.verifyRun', applied.id)) as RunSummary;
      assert.equal(verified.status, 'completed');
      assert.equal(verified.apply.drifted, 0);
      const rolled = (await vscode.commands.executeCommand('redress.rollbackRun', applied.id, { confirmed: true })) as RunSummary;
      assert.equal(rolled.kind, 'rollback');
      assert.equal(rolled.apply.applied, 22);
    });

    it('reconnects after the daemon is killed (-9), with a new daemon, and keeps working', async () => {
      const before = api.ctx.session.pid;
      assert.ok(before);
      const states: string[] = [];
      const reconnected = new Promise<void>((resolve) =>
        api.ctx.onState((s) => {
          states.push(s.kind);
          if (s.kind === 'connected') resolve();
        }),
      );
      process.kill(before, 'SIGKILL');
      await reconnected;
      assert.ok(states.includes('down'), `states: ${states.join(' → ')}`);
      assert.notEqual(api.ctx.session.pid, before);
      const r = (await vscode.commands.executeCommand('redress.preview', correction('numeric-titles'), { sampleSize: 5000 })) as PreviewResult | undefined;
      assert.ok(r, JSON.stringify(api.lastError));
      assert.equal(r.summary.scanned, 10); // select.where: titles that are not text
      assert.equal(r.summary.changed, 9);
      assert.equal(r.summary.quarantined, 1);
      const drawn = await r.rendered;
      assert.equal(drawn.total, 10);
    });

    it('exports the review report as Markdown and as self-contained HTML', async () => {
      await vscode.commands.executeCommand('redress.openRun', dryRunId); // the panel on screen is the one exported
      const md = join(folder(), 'review.md');
      const html = join(folder(), 'review.html');
      assert.equal(await vscode.commands.executeCommand('redress.exportReport', 'markdown', md), md);
      assert.equal(await vscode.commands.executeCommand('redress.exportReport', 'html', html), html);
      const m = readFileSync(md, 'utf8');
      assert.match(m, /# Redress review: dry-run \S+ of fix-release-century/);
      assert.match(m, /\| 3,201 \| 22 \| 0 \| 3,179 \| 0 \|/);
      assert.match(m, /release_date: "Dec 31 2046" → "Dec 31 1946"/);
      const h = readFileSync(html, 'utf8');
      assert.ok(!/<script|src=|href=/i.test(h), 'the HTML report loads nothing and runs nothing');
      assert.match(h, /<del>&quot;Dec 31 2046&quot;<\/del> → <ins>&quot;Dec 31 1946&quot;<\/ins>/);
    });

    it('shows compile errors on save as squiggles, and clears them once fixed', async () => {
      const uri = correction('broken');
      writeFileSync(uri.fsPath, `import { defineCorrection } from 'redress';\nexport default defineCorrection({\n  id: 'broken',,\n});\n`);
      const doc = await vscode.workspace.openTextDocument(uri);
      await vscode.window.showTextDocument(doc);
      await doc.save();
      await vscode.commands.executeCommand('redress.checkCorrection', uri);
      const ds = await diagnosticsFor(uri, (d) => d.some((x) => x.source === 'redress'));
      const d = ds.find((x) => x.source === 'redress')!;
      assert.equal(d.severity, vscode.DiagnosticSeverity.Error);
      assert.equal(d.range.start.line, 2);
      // Fixed and saved: the compile-on-save clears the squiggle.
      const edit = new vscode.WorkspaceEdit();
      edit.replace(uri, new vscode.Range(2, 0, 2, doc.lineAt(2).text.length), `  id: 'broken', description: 'x', target: { table: 'movies', key: 'id' }, expects: {}, transform: () => ({}),`);
      assert.ok(await vscode.workspace.applyEdit(edit));
      await doc.save();
      await diagnosticsFor(uri, (ds2) => !ds2.some((x) => x.source === 'redress'));
    });

    it('maps a manifest error (zod path) to its place in the source', async () => {
      const uri = correction('bad-manifest');
      writeFileSync(
        uri.fsPath,
        `import { defineCorrection } from 'redress';\nexport default defineCorrection({\n  id: 'Bad_Id',\n  description: 'x',\n  target: { table: 'movies', key: 'id' },\n  expects: {},\n  transform: () => ({}),\n});\n`,
      );
      await vscode.commands.executeCommand('redress.checkCorrection', uri);
      const ds = await diagnosticsFor(uri, (d) => d.some((x) => x.source === 'redress'));
      const d = ds.find((x) => x.source === 'redress')!;
      assert.match(d.message, /^id: must be kebab-case/);
      assert.equal(d.range.start.line, 2);
    });

    it('New Correction scaffolds a typed correction and row types from the schema', async () => {
      const file = (await vscode.commands.executeCommand('redress.newCorrection', { table: 'movies', id: 'scaffolded-fix' })) as string | undefined;
      assert.ok(file, JSON.stringify(api.lastError));
      assert.ok(existsSync(file));
      const types = join(folder(), 'corrections', 'types', 'movies.ts');
      assert.match(readFileSync(types, 'utf8'), /export type MoviesRow = \{[\s\S]*release_date: string \| null;/);
      assert.ok(existsSync(join(folder(), 'corrections', 'types', 'redress.d.ts')));
      assert.match(readFileSync(file, 'utf8'), /defineCorrection<MoviesRow>/);
      const check = (await vscode.commands.executeCommand('redress.checkCorrection', vscode.Uri.file(file))) as { ok: boolean } | undefined;
      assert.equal(check?.ok, true, 'the scaffold compiles and its manifest is valid');
    });
  });
}
