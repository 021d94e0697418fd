// Typed settings, read through this one module. Each setting has a zod schema, a default, and whether
// changing it needs the daemon to restart; package.json's contributes.configuration mirrors SETTINGS
// (test/extension/manifest.test.ts keeps the two in step).
import { z } from 'zod';

export const SECTION = 'redress';

interface SettingSpec<S extends z.ZodType> {
  schema: S;
  /** Changing it takes effect only after the daemon restarts (the extension offers the restart). */
  restart: boolean;
  description: string;
}

const spec = <S extends z.ZodType>(schema: S, restart: boolean, description: string): SettingSpec<S> => ({ schema, restart, description });

export const SETTINGS = {
  nodePath: spec(
    z.string().default(''),
    true,
    'Node.js executable that runs the Redress daemon. Empty: the first `node` on PATH (the editor may run its own, different Node). The daemon\'s SQLite module is built for it on first start if needed.',
  ),
  previewSnapshot: spec(
    z.string().default(''),
    false,
    'Preview samples this snapshot file (made by `redress snapshot`, path relative to the workspace) instead of the target. Empty: the target in redress.config.json. Dry-run and Apply always use the target.',
  ),
  sampleSize: spec(z.number().int().min(1).max(100_000).nullable().default(null), false, 'Rows in a Preview sample. Empty: the correction\'s options.sampleSize (default 200).'),
  batchSize: spec(z.number().int().min(1).max(100_000).nullable().default(null), false, 'Rows per batch for Dry-run and Apply. Empty: the correction\'s options.batchSize (default 500).'),
  compileOnSave: spec(z.boolean().default(true), false, 'Compile a correction and check its manifest each time it is saved; problems appear as squiggles.'),
  typesFolder: spec(z.string().default('types'), false, 'Folder, inside the corrections folder, where generated row types (one file per table) are written.'),
  'daemon.startTimeoutSeconds': spec(z.number().min(1).max(600).default(30), false, 'How long to wait for a new daemon to say it is ready.'),
  'daemon.requestTimeoutSeconds': spec(z.number().min(1).max(3600).default(120), false, 'How long to wait for the daemon to answer one request (Preview of a large sample can take a while).'),
  'daemon.idleMinutes': spec(z.number().int().min(1).max(24 * 60).default(10), true, 'A daemon with no client and no run exits after this many minutes.'),
  'report.maxRows': spec(z.number().int().min(0).max(100_000).default(1000), false, 'Row diffs included in an exported review report (the summary always covers every row).'),
} as const;

export type SettingKey = keyof typeof SETTINGS;
export type Settings = { [K in SettingKey]: z.output<(typeof SETTINGS)[K]['schema']> };

export interface SettingProblem {
  key: string;
  message: string;
}

/**
 * Reads every setting through `get` (vscode's WorkspaceConfiguration.get, or a plain object in
 * tests). A value that does not fit its schema falls back to the default and is reported, so one bad
 * setting never stops the extension.
 */
export function readSettings(get: (key: string) => unknown): { settings: Settings; problems: SettingProblem[] } {
  const problems: SettingProblem[] = [];
  const out: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(SETTINGS) as [SettingKey, SettingSpec<z.ZodType>][]) {
    const raw = get(key);
    const parsed = s.schema.safeParse(raw === undefined ? undefined : raw);
    if (parsed.success) out[key] = parsed.data;
    else {
      problems.push({ key: `${SECTION}.${key}`, message: parsed.error.issues.map((i) => i.message).join('; ') });
      out[key] = s.schema.parse(undefined);
    }
  }
  return { settings: out as Settings, problems };
}

/** Settings whose change needs a daemon restart, among those that changed. */
export function restartNeeded(before: Settings, after: Settings): SettingKey[] {
  return (Object.keys(SETTINGS) as SettingKey[]).filter((k) => SETTINGS[k].restart && JSON.stringify(before[k]) !== JSON.stringify(after[k]));
}
