// Driving the VS Code workbench in chromium the way a person does: the command palette, notifications.
import type { Page } from 'playwright-core';
import type { CodeServer } from './codeServer';

/** Opens `folder` in the workbench and resolves once the workbench and its status bar are drawn. */
export async function openWorkbench(page: Page, server: CodeServer, folder: string, timeoutMs = 60_000): Promise<void> {
  await page.goto(server.folderUrl(folder));
  await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: timeoutMs });
  await page.locator('#workbench\\.parts\\.statusbar').waitFor({ state: 'visible', timeout: timeoutMs });
}

/**
 * Runs a command from the palette (F1, type its title, Enter). An installed extension's commands can
 * register after the workbench paints, so when the palette has no matching entry it closes and tries
 * again, up to `attempts` times.
 */
export async function runFromPalette(page: Page, title: string, attempts = 10): Promise<void> {
  const input = page.locator('.quick-input-widget input');
  // Enter runs the focused row, so wait until that one is the command (not a "similar command").
  const row = page.locator('.quick-input-list .monaco-list-row.focused', { hasText: title });
  for (let attempt = 1; ; attempt++) {
    await page.locator('.monaco-workbench').click({ position: { x: 640, y: 300 } });
    await page.keyboard.press('F1');
    await input.waitFor({ state: 'visible', timeout: 10_000 });
    await input.fill(`>${title}`);
    try {
      await row.waitFor({ state: 'visible', timeout: 3_000 });
      await page.keyboard.press('Enter');
      await input.waitFor({ state: 'hidden', timeout: 10_000 });
      return;
    } catch (err) {
      await page.keyboard.press('Escape');
      if (attempt >= attempts) throw new Error(`command "${title}" not found in the palette after ${attempts} tries: ${(err as Error).message}`);
    }
  }
}

/**
 * Resolves with the text of the first notification toast containing `text`. Toasts only show when the
 * server was started with `smokeTestDriver: false`.
 */
export async function waitForNotification(page: Page, text: string, timeoutMs = 15_000): Promise<string> {
  const toast = page.locator('.notification-toast', { hasText: text }).first();
  await toast.waitFor({ state: 'visible', timeout: timeoutMs });
  return (await toast.innerText()).trim();
}
