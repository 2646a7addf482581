/**
 * HTTP-date (RFC 9110 §5.6.7), strictly. `Date.parse` accepts far more (time zones other
 * than GMT, missing commas, dashes, extra spaces, one-digit hours): an Expires such a
 * parser reads as a future date would keep a response fresh that RFC 9111 §5.3 says is
 * already expired. A recipient must accept the three forms below, and nothing else is a date:
 *
 *   IMF-fixdate   Sun, 06 Nov 1994 08:49:37 GMT
 *   rfc850-date   Sunday, 06-Nov-94 08:49:37 GMT
 *   asctime-date  Sun Nov  6 08:49:37 1994
 *
 * Day and month names and `GMT` are matched ignoring case (the grammar writes them in one
 * case; `THU` or `AUG` is not ambiguous, and reading it costs no strictness that matters).
 */

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const M = MONTHS.join('|');
const TIME = '([0-9]{2}):([0-9]{2}):([0-9]{2})';
const IMF = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{2}) (${M}) ([0-9]{4}) ${TIME} GMT$`, 'i');
const RFC850 = new RegExp(`^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), ([0-9]{2})-(${M})-([0-9]{2}) ${TIME} GMT$`, 'i');
const ASCTIME = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (${M}) ([ 0-9][0-9]) ${TIME} ([0-9]{4})$`, 'i');

/** An HTTP-date as epoch ms; undefined when it is not one. `now` places a two-digit year. */
export function parseHttpDate(v: string | undefined, now = Date.now()): number | undefined {
  if (v === undefined || v.length < 24 || v.length > 40) return undefined;
  let m = IMF.exec(v);
  if (m !== null) return build(Number(m[3]), m[2]!, m[1]!, m[4]!, m[5]!, m[6]!);
  m = RFC850.exec(v);
  if (m !== null) {
    // §5.6.7: a two-digit year more than 50 years in the future is the most recent past one.
    const thisYear = new Date(now).getUTCFullYear();
    let year = Math.floor(thisYear / 100) * 100 + Number(m[3]);
    if (year > thisYear + 50) year -= 100;
    return build(year, m[2]!, m[1]!, m[4]!, m[5]!, m[6]!);
  }
  m = ASCTIME.exec(v);
  if (m !== null) return build(Number(m[6]), m[1]!, m[2]!.trim(), m[3]!, m[4]!, m[5]!);
  return undefined;
}

function build(year: number, month: string, dd: string, h: string, min: string, s: string): number | undefined {
  const mo = MONTHS.indexOf(month[0]!.toUpperCase() + month.slice(1).toLowerCase());
  const d = Number(dd);
  const hh = Number(h);
  const mm = Number(min);
  const ss = Number(s);
  // A leap second (60) is allowed by the grammar: it counts as the next minute's first.
  if (d < 1 || hh > 23 || mm > 59 || ss > 60) return undefined;
  const day = new Date(0);
  day.setUTCFullYear(year, mo, d); // not Date.UTC: it reads years 0-99 as 1900-1999
  // 31 Feb and the like roll over into the next month: a day that does not exist is no date.
  if (day.getUTCDate() !== d) return undefined;
  return day.getTime() + ((hh * 60 + mm) * 60 + ss) * 1000;
}
