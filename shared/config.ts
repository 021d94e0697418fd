// redress.config.json: which target a workspace corrects and where its corrections live.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

export const CONFIG_FILE = 'redress.config.json';

export const TargetConfig = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('sqlite'), path: z.string().min(1) }).strict(),
  z.object({ kind: z.literal('postgres'), connectionString: z.string().min(1) }).strict(),
]);
export type TargetConfig = z.infer<typeof TargetConfig>;

export const WorkspaceConfig = z
  .object({
    $schema: z.string().optional(),
    target: TargetConfig,
    correctionsDir: z.string().default('corrections'),
  })
  .strict();
export type WorkspaceConfig = z.infer<typeof WorkspaceConfig>;

/**
 * The workspace's config when it is there and valid, else null: for choices that have a default (which
 * folder holds corrections, how the daemon starts). The daemon reports a missing or broken config itself
 * (daemon/config.ts).
 */
export function workspaceConfigOrNull(workspace: string): WorkspaceConfig | null {
  try {
    const parsed = WorkspaceConfig.safeParse(JSON.parse(readFileSync(join(workspace, CONFIG_FILE), 'utf8')));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
