/** The path (and query) a request is sent upstream with: route rewrite or strip prefix, then the raw query. */
import type { RequestContext } from './context.ts';

export function upstreamPath(ctx: RequestContext): string {
  const route = ctx.route!;
  let path = route.rewrite ? route.rewrite(ctx.params) : ctx.path;
  const strip = route.stripPrefix;
  // Strip only at a segment boundary: /users strips /users/1 and /users, never /usersX.
  if (strip !== undefined && !route.rewrite && startsWith(path, strip, route.stripAnyCase === true) && (path.length === strip.length || path.charCodeAt(strip.length) === 47)) {
    path = path.length === strip.length ? '/' : path.slice(strip.length);
  }
  return ctx.rawQuery ? path + '?' + ctx.rawQuery : path;
}

/** A case-insensitive route (match.caseSensitive false) strips its prefix in any ASCII case: /ADMIN/x under /admin is /x. */
function startsWith(path: string, prefix: string, anyCase: boolean): boolean {
  if (!anyCase) return path.startsWith(prefix);
  if (path.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) {
    const a = path.charCodeAt(i);
    const b = prefix.charCodeAt(i);
    if (a !== b && ((a | 0x20) !== (b | 0x20) || (a | 0x20) < 97 || (a | 0x20) > 122)) return false;
  }
  return true;
}
