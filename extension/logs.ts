// The "Redress" output channel: the extension's own lines and, interleaved, the daemon's log file
// (.redress/daemon.log), followed as it grows. On a new workspace .redress/ does not exist until the
// first daemon makes it, so following can fail at activation; ctx.ts follows again on each connection.
import { closeSync, existsSync, openSync, readSync, statSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import * as vscode from 'vscode';

export class Logs implements vscode.Disposable {
  readonly channel: vscode.LogOutputChannel;
  private watcher: FSWatcher | null = null;
  private offset = 0;
  private partial = '';
  private file: string | null = null;
  private lines = 0;

  constructor() {
    this.channel = vscode.window.createOutputChannel('Redress', { log: true });
  }

  info(line: string): void {
    this.channel.info(line);
  }

  error(line: string): void {
    this.channel.error(line);
  }

  /** Daemon log lines copied to the channel so far (in-editor tests read it). */
  get daemonLines(): number {
    return this.lines;
  }

  /** Whether the daemon's log is being followed (its folder is watched). */
  get following(): boolean {
    return this.watcher !== null;
  }

  /**
   * Follows the daemon's log file from its current end (plus the last few lines for context). Safe to
   * call again: a no-op while following `file`, else (the folder did not exist yet) it tries again.
   */
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
      // No .redress/ yet (a workspace whose daemon never ran): followed again once a daemon is connected.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') this.channel.debug(`${dirname(file)} does not exist yet; following the daemon log once a daemon runs`);
      else this.channel.warn(`cannot follow ${file}: ${(e as Error).message}`);
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
      for (const l of lines) {
        if (!l.trim()) continue;
        this.channel.appendLine(`[daemon] ${l}`);
        this.lines++;
      }
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
