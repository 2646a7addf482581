/**
 * request-transform: change what the upstream receives (docs/policies/request-transform.md).
 * Headers: remove, rename, set (replace), add (append to a value already there, comma-
 * joined as RFC 9110 §5.3 allows), in that order; names compiled to lower case at load
 * time. Query: remove, set, on ctx.rawQuery. Path: a template with the route's :params.
 *
 * Runs in the `upstream` phase, after authentication, so it cannot be used to forge
 * identity headers before auth (the gateway sets those itself); and a rename may not
 * target an identity header (X-Consumer-*, X-Authenticated-*): that would hand a client's
 * header to the upstream as the gateway's word. It never refuses a request, so it has no
 * shadow mode: validation refuses `enforce: false` (PolicySpec.canDeny).
 */
import type { PolicyDefinition, PolicyHandlers } from '../../request/policy.ts';
import type { RequestContext } from '../../request/context.ts';
import { spec, type Config } from './spec.ts';
import { compileQuery } from './query.ts';
import { compileTemplate } from '../../core/template.ts';



const lower = (m: Record<string, string> | undefined): Array<readonly [string, string]> =>
  Object.entries(m ?? {}).map(([k, v]) => [k.toLowerCase(), v] as const);

/** The value the upstream would get for `name` so far: the gateway's, else the client's unless dropped. */
function current(ctx: RequestContext, name: string): string | undefined {
  const mine = ctx.upstreamHeaders?.[name];
  if (mine !== undefined) return mine;
  if (ctx.dropHeaders?.has(name)) return undefined;
  const v = ctx.req.headers[name];
  return typeof v === 'string' ? v : v?.join(', ');
}

export const requestTransform: PolicyDefinition<Config> = {
  ...spec,
  create(config) {
    const h = config.headers ?? {};
    const remove = (h.remove ?? []).map((n) => n.toLowerCase());
    const rename = lower(h.rename).map(([from, to]) => [from, to.toLowerCase()] as const);
    const set = lower(h.set);
    const add = lower(h.add);
    const query = compileQuery(config.query);
    const path = config.path !== undefined ? compileTemplate(config.path) : undefined;

    return Object.freeze<PolicyHandlers>({
      request(ctx) {
        for (const name of remove) ctx.dropUpstreamHeader(name);
        for (const [from, to] of rename) {
          const v = current(ctx, from);
          if (v === undefined) continue;
          ctx.dropUpstreamHeader(from);
          if (ctx.upstreamHeaders) delete ctx.upstreamHeaders[from];
          ctx.setUpstreamHeader(to, v);
        }
        for (const [k, v] of set) ctx.setUpstreamHeader(k, v);
        for (const [k, v] of add) { const cur = current(ctx, k); ctx.setUpstreamHeader(k, cur ? cur + ', ' + v : v); }
        if (query) ctx.rawQuery = query(ctx.rawQuery);
        if (path) ctx.path = path(ctx.params);
      },
    });
  },
};
