import { defineCorrection } from 'redress';

// Release dates are stored as "Jun 12 1998", which neither sorts nor parses portably. Rewrite every
// one as ISO 8601 ("1998-06-12"), fixing the 22 dates that are a century late on the way.
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const LAST_REAL_YEAR = 2011;

export default defineCorrection<{ id: number; release_date: string | null }>({
  id: 'release-date-iso',
  description: 'Rewrite release dates from "Jun 12 1998" to ISO 8601 "1998-06-12" (and fix years a century late).',
  target: { table: 'movies', key: 'id' },
  expects: { release_date: 'text' },
  transform(row, ctx) {
    if (row.release_date === null) return ctx.skip('no release date');
    if (/^\d{4}-\d{2}-\d{2}$/.test(row.release_date)) return ctx.skip('already ISO 8601');
    const m = /^([A-Z][a-z]{2}) (\d{2}) (\d{4})$/.exec(row.release_date);
    const month = m ? MONTHS.indexOf(m[1]!) + 1 : 0;
    if (!m || month === 0) return ctx.quarantine(`cannot read release_date ${JSON.stringify(row.release_date)}`);
    let year = Number(m[3]);
    if (year > LAST_REAL_YEAR) year -= 100;
    return { release_date: `${year}-${String(month).padStart(2, '0')}-${m[2]}` };
  },
  invariants: {
    'is a real calendar date': (after) => {
      const d = new Date(after.release_date + 'T00:00:00Z');
      return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === after.release_date;
    },
  },
});
