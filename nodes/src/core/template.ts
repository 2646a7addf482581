/**
 * The one path-template compiler: `/v2/items/:id/*` filled from the route's match params.
 * Used by a route's `rewrite.path` and by request-transform's `path`; the validation checks
 * each template with `templateErrors` so a name the route does not define is a config error.
 */

const PARAM = /(:[A-Za-z_][A-Za-z0-9_]*|\*)/;
/** Params a route match path defines: `:name` segments, and `*` as the whole last segment. */
const ROUTE_PARAM = /(?<=\/):[A-Za-z_][A-Za-z0-9_]*(?=\/|$)|(?<=\/)\*$/g;

export type PathTemplate = (params: Readonly<Record<string, string>> | undefined) => string;

/** The params a template uses (`:id`, `*`), in order. */
export function templateParams(tpl: string): string[] {
  return tpl.split(PARAM).filter((p) => p === '*' || p.startsWith(':'));
}

/**
 * What is wrong with `tpl` for a route matching `routePaths`: one message per param that some
 * match path does not define (the request could arrive without it). Empty when it is fine.
 */
export function templateErrors(tpl: string, routePaths: readonly string[]): string[] {
  const out: string[] = [];
  const used = templateParams(tpl);
  for (const p of routePaths) {
    const has = new Set(p.match(ROUTE_PARAM) ?? []);
    for (const u of used) if (!has.has(u)) out.push(`"${u}" is not defined by the route path ${p}`);
  }
  return out;
}

/** Compile once at load time; the result only concatenates per request. */
export function compileTemplate(tpl: string): PathTemplate {
  const parts = tpl.split(PARAM).filter((p) => p !== '');
  return (params) => {
    let out = '';
    for (const p of parts) {
      if (p === '*') out += params?.['*'] ?? '';
      else if (p.charCodeAt(0) === 58 /* : */) out += encodeSegment(params?.[p.slice(1)] ?? '');
      else out += p;
    }
    return out;
  };
}

/** Params come from the normalised path, so they are already valid path text; keep '/' out of a single segment. */
function encodeSegment(s: string): string {
  return s.includes('/') ? s.replaceAll('/', '%2F') : s;
}
