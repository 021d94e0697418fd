// redress.config.json: which target a workspace corrects and where its corrections live.
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
