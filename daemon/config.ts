// Reads and validates the workspace's redress.config.json.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_FILE, WorkspaceConfig } from '../shared/config';
import { RedressError } from '../shared/errors';

export function readConfig(workspace: string): WorkspaceConfig {
  const file = join(workspace, CONFIG_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new RedressError('CONFIG', `No ${CONFIG_FILE} in ${workspace}. Run \`redress init --sqlite <file>\` or \`redress init --postgres <url> --schema <name>\` there first.`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new RedressError('CONFIG', `${file} is not valid JSON: ${(e as Error).message}. Fix the file.`);
  }
  const parsed = WorkspaceConfig.safeParse(json);
  if (!parsed.success) {
    throw new RedressError('CONFIG', `${file} is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}. Fix the file.`);
  }
  return parsed.data;
}
