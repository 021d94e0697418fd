import { defineCorrection } from 'redress';

// 22 films carry release dates a century late ("Duel in the Sun", 1946, is dated "Dec 31 2046"):
// a two-digit year was expanded into the wrong century. The data set's last real release is in 2011.
const LAST_REAL_YEAR = 2011;

export default defineCorrection<{ id: number; title: unknown; release_date: string | null }>({
  id: 'fix-release-century',
  description: 'Move release dates after 2011 back one century (two-digit years expanded into the 2000s).',
  target: { table: 'movies', key: 'id' },
  expects: { release_date: 'text' },
  transform(row, ctx) {
    const m = /^([A-Z][a-z]{2}) (\d{2}) (\d{4})$/.exec(row.release_date ?? '');
    if (!m) return ctx.quarantine(`release_date ${JSON.stringify(row.release_date)} is not "Mon DD YYYY"`);
    const year = Number(m[3]);
    if (year <= LAST_REAL_YEAR) return ctx.skip('year is plausible');
    return { release_date: `${m[1]} ${m[2]} ${year - 100}` };
  },
  invariants: {
    'year not in the future of the data set': (after) => Number(after.release_date!.slice(-4)) <= LAST_REAL_YEAR,
  },
});
