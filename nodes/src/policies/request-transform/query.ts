/**
 * Query edits on the raw query string, compiled once. Parameters not named in the config
 * keep their exact bytes (order and percent-encoding): re-serialising the whole query
 * would change what the client signed or cached on.
 */
import type { QueryOpsConfig } from './schema.ts';

export type QueryEdit = (raw: string) => string;

/** A raw name as the comparison sees it: form-decoded (`+` is a space), or raw if malformed. */
function decodeName(raw: string): string {
  if (raw.indexOf('%') < 0 && raw.indexOf('+') < 0) return raw;
  try { return decodeURIComponent(raw.replaceAll('+', ' ')); } catch { return raw; }
}

export function compileQuery(ops: QueryOpsConfig | undefined): QueryEdit | undefined {
  const set = Object.entries(ops?.set ?? {});
  const drop = new Set([...(ops?.remove ?? []), ...set.map(([k]) => k)]);
  if (!drop.size) return undefined;
  const append = set.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  return (raw) => {
    let out = '';
    let start = 0;
    while (start < raw.length) {
      let end = raw.indexOf('&', start);
      if (end < 0) end = raw.length;
      if (end > start) {
        const eq = raw.indexOf('=', start);
        const name = decodeName(raw.slice(start, eq >= 0 && eq < end ? eq : end));
        if (!drop.has(name)) out = out ? out + '&' + raw.slice(start, end) : raw.slice(start, end);
      }
      start = end + 1;
    }
    return append ? (out ? out + '&' + append : append) : out;
  };
}
