// The SCHEMA_DRIFT error: names what changed between the schema a run planned with and the one it finds.
import { RedressError } from '../../shared/errors';
import type { TableSchema } from './target';

export function schemaDrift(planned: TableSchema, now: TableSchema): RedressError {
  const was = new Map(planned.columns.map((c) => [c.name, c]));
  const is = new Map(now.columns.map((c) => [c.name, c]));
  const changes: string[] = [];
  for (const [n, c] of was) {
    const d = is.get(n);
    if (!d) changes.push(`column "${n}" was dropped`);
    else if (d.type.toUpperCase() !== c.type.toUpperCase()) changes.push(`column "${n}" changed type from ${c.type || 'none'} to ${d.type || 'none'}`);
    else if (d.notNull !== c.notNull) changes.push(`column "${n}" is now ${d.notNull ? 'NOT NULL' : 'nullable'}`);
  }
  for (const n of is.keys()) if (!was.has(n)) changes.push(`column "${n}" was added`);
  if (!changes.length) changes.push('its unique keys changed');
  return new RedressError(
    'SCHEMA_DRIFT',
    `The schema of "${planned.table}" changed since this run was planned: ${changes.join('; ')}. The run halted before writing anything more; make a new plan (dry-run) against the new schema.`,
    { changes },
  );
}
