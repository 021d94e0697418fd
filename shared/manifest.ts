// The zod schema of a correction's manifest: everything in defineCorrection({...}) but the functions.
// The daemon validates a compiled correction with it; zod paths map back to source ranges in the editor.
import { z } from 'zod';

export const COLUMN_TYPES = ['text', 'integer', 'real', 'numeric', 'boolean', 'blob', 'json', 'date', 'timestamp', 'any'] as const;

const identifier = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z_][A-Za-z0-9_ $-]*$/, 'must be a plain table or column name');

export const Manifest = z.object({
  id: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,79}$/, 'must be kebab-case: lower-case letters, digits and dashes'),
  description: z.string().min(1, 'say what the correction fixes'),
  target: z.object({
    table: identifier,
    key: z.union([identifier, z.array(identifier).min(1)]).transform((k) => (Array.isArray(k) ? k : [k])),
  }),
  expects: z.record(identifier, z.enum(COLUMN_TYPES)),
  select: z
    .object({
      where: z
        .string()
        .refine((w) => !/;/.test(w), 'a WHERE condition cannot contain ";"')
        .optional(),
    })
    .strict()
    .optional(),
  invariants: z.array(z.string()).default([]),
  options: z
    .object({
      batchSize: z.number().int().min(1).max(100_000).default(500),
      quarantineThreshold: z.number().min(0).max(1).default(0.05),
      sampleSize: z.number().int().min(1).max(100_000).default(200),
    })
    .strict()
    .default({ batchSize: 500, quarantineThreshold: 0.05, sampleSize: 200 }),
});

export type Manifest = z.output<typeof Manifest>;
