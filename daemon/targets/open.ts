// Opens the target a workspace's config names.
import { isAbsolute, join } from 'node:path';
import type { TargetConfig } from '../../shared/config';
import { PostgresTarget } from './postgres';
import { SqliteTarget } from './sqlite';
import type { Target } from './target';

export async function openTarget(config: TargetConfig, workspace: string): Promise<Target> {
  switch (config.kind) {
    case 'sqlite':
      return new SqliteTarget(isAbsolute(config.path) ? config.path : join(workspace, config.path));
    case 'postgres':
      return PostgresTarget.open(config.connectionString);
  }
}
