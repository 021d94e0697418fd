// Debian's chromium, driven by playwright-core, with a fresh profile per run.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { chromiumPath } from './paths';

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** Closes chromium and removes its profile. Idempotent. */
  close(): Promise<void>;
}

// --headless is added by playwright itself (headless: true).
const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

export async function launchBrowser(opts: { viewport?: { width: number; height: number } } = {}): Promise<Browser> {
  const profileDir = mkdtempSync(join(tmpdir(), 'redress-vscode-e2e-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: chromiumPath,
      headless: true,
      args: CHROMIUM_FLAGS,
      viewport: opts.viewport ?? { width: 1280, height: 800 },
      timeout: 60_000,
    });
  } catch (err) {
    rmSync(profileDir, { recursive: true, force: true });
    throw err;
  }
  const page = context.pages()[0] ?? (await context.newPage());
  let closed = false;
  return {
    context,
    page,
    close: async () => {
      if (closed) return;
      closed = true;
      // A hung renderer can make close() hang too; playwright kills the browser process on timeout.
      await Promise.race([context.close().catch(() => undefined), new Promise((r) => setTimeout(r, 10_000))]);
      rmSync(profileDir, { recursive: true, force: true });
    },
  };
}
