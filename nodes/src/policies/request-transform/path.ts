/**
 * The `path` template: `/v2/items/:id/*` filled from the route's params, compiled once.
 * (Its own small compiler, the same syntax as the route's rewrite.path: importing the
 * pipeline's one would make policies/registry.ts import itself through compile.ts.)
 */
import type { RequestContext } from '../../pipeline/context.ts';

const PARAM = /(:[A-Za-z_][A-Za-z0-9_]*|\*)/;

/** The params a template uses (`:id`, `*`). */
export function templateParams(tpl: string): string[] {
  return tpl.split(PARAM).filter((p) => p === '*' || p.startsWith(':'));
}

export function compilePath(tpl: string): (ctx: RequestContext) => string {
  const parts = tpl.split(PARAM).filter((p) => p !== '');
  return (ctx) => {
    let out = '';
    for (const p of parts) {
      if (p === '*') out += ctx.params?.['*'] ?? '';
      else if (p.charCodeAt(0) === 58 /* : */) {
        const v = ctx.params?.[p.slice(1)] ?? '';
        out += v.includes('/') ? v.replaceAll('/', '%2F') : v; // one param stays one segment
      } else out += p;
    }
    return out;
  };
}
