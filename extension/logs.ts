// The "Redress" output channel: the extension's own lines and, interleaved, the daemon's log file
// (.redress/daemon.log), followed as it grows.
import { closeSync, existsSync, openSync, readSync, statSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import * as vscode from 'vscode';

export class Logs implements vscode.Disposable {
  readonly channel: vscode.LogOutputChannel;
  private watcher: FSWatcher | null = null;
  private offset = 0;
  private partial = '';
  private file: string | null = null;

  constructor() {
    this.channel = vscode.window.createOutputChannel('Redress', { log: true });
  }

  info(line: string): void {
    this.channel.info(line);
  }

  error(line: string): void {
    this.channel.error(line);
  }

  /** Follows the daemon's log file from its current end (plus the last few lines for context). */
  follow(file: string): void {
    if (this.file === file && this.watcher) return;
    this.unfollow();
    this.file = file;
    if (existsSync(file)) {
      const size = statSync(file).size;
      this.offset = Math.max(0, size - 4096);
      this.partial = '';
      this.read(this.offset > 0);
    } else this.offset = 0;
    try {
      // Watch the folder: the file may not exist yet, or be replaced.
      this.watcher = watch(dirname(file), (_e, name) => {
        if (!name || name.toString() === basename(file)) this.read(false);
      });
    } catch (e) {
      this.channel.warn(`cannot follow ${file}: ${(e as Error).message}`);
    }
  }

  private read(skipFirstPartialLine: boolean): void {
    if (!this.file) return;
    let fd: number;
    try {
      fd = openSync(this.file, 'r');
    } catch {
      return;
    }
    try {
      const size = statSync(this.file).size;
      if (size < this.offset) this.offset = 0; // the file was truncated or replaced
      const buf = Buffer.alloc(Math.min(size - this.offset, 1024 * 1024));
      if (buf.length === 0) return;
      readSync(fd, buf, 0, buf.length, this.offset);
      this.offset += buf.length;
      const text = this.partial + buf.toString('utf8');
      const lines = text.split('\n');
      this.partial = lines.pop() ?? '';
      if (skipFirstPartialLine) lines.shift();
      for (const l of lines) if (l.trim()) this.channel.appendLine(`[daemon] ${l}`);
    } finally {
      closeSync(fd);
    }
  }

  private unfollow(): void {
    this.watcher?.close();
    this.watcher = null;
  }

  show(): void {
    this.channel.show(true);
  }

  dispose(): void {
    this.unfollow();
    this.channel.dispose();
  }
}
