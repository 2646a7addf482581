/**
 * Query-string credential handling. The name test uses the same decoding as
 * URLSearchParams (WHATWG application/x-www-form-urlencoded: '+' is space, then
 * percent-decoding), so `api%5Fkey=…` and `api_key=…` are one parameter to the gateway, to
 * ctx.searchParams and to the upstream alike: a credential can't be hidden from removal
 * by spelling its name differently.
 */

/** Every `name=…` pair removed; the other pairs are kept byte for byte, in order. */
export function removeQueryParam(rawQuery: string, name: string): string {
  const pairs = rawQuery.split('&');
  const kept: string[] = [];
  for (const p of pairs) if (pairName(p) !== name) kept.push(p);
  return kept.length === pairs.length ? rawQuery : kept.join('&');
}

function pairName(pair: string): string {
  const eq = pair.indexOf('=');
  const raw = eq < 0 ? pair : pair.slice(0, eq);
  if (raw.indexOf('%') < 0 && raw.indexOf('+') < 0) return raw;
  // Rare path: let URLSearchParams decode exactly as ctx.searchParams did.
  for (const [k] of new URLSearchParams(raw + '=')) return k;
  return raw;
}
