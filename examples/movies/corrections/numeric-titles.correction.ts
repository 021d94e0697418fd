import { defineCorrection } from 'redress';

// Nine films are titled with numbers ("1776", "300", "21", ...) and the importer stored those titles
// as numbers, so they sort and compare as numbers. Store them as text. One film has no title at all:
// a person has to look it up, so it is quarantined rather than guessed.
export default defineCorrection<{ id: number; title: string | number | null }>({
  id: 'numeric-titles',
  description: 'Store titles that were imported as numbers (1776, 300, 21, ...) as text.',
  target: { table: 'movies', key: 'id' },
  expects: { title: 'any' },
  select: { where: "typeof(title) <> 'text'" },
  transform(row, ctx) {
    if (row.title === null) return ctx.quarantine('the film has no title; look it up before correcting');
    if (typeof row.title === 'string') return ctx.skip('already text');
    return { title: String(row.title) };
  },
  invariants: {
    'title is text': (after) => typeof after.title === 'string',
  },
  options: { quarantineThreshold: 0.2 },
});
