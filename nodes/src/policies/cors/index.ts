/**
 * cors (phase request, runs first): the gateway answers CORS for the route
 * (docs/policies/cors.md; Fetch standard §3.2 "CORS protocol").
 *  - A preflight (OPTIONS with Origin and Access-Control-Request-Method) is answered here
 *    with 204 and never forwarded; from an origin not allowed it gets 403 GW_FORBIDDEN with
 *    no CORS headers (the browser fails it either way; a 403 shows in logs and metrics).
 *  - Other responses from an allowed origin get Access-Control-Allow-Origin & co. in a
 *    response hook (so gateway errors such as 401 and 429 are readable by the page too);
 *    from an origin not allowed they get none, and the upstream's own ones are removed:
 *    on a route with this policy, the gateway's answer is the only one.
 *  - `credentials: true` never goes with `*`: the origin is echoed instead (Fetch forbids
 *    the pair), with `Vary: Origin` whenever the answer depends on the origin.
 *  - Shadow mode (`enforce: false`, pipeline/compile.ts): a preflight from an origin not
 *    allowed is counted as shadow_deny; every request goes on to the upstream and the
 *    response hook is not run, so the upstream's own CORS answer is what the browser sees.
 */
import type { PolicyDefinition, PolicyHandlers, LocalReply } from '../../request/policy.ts';
import { parseDuration } from '../../schema/duration.ts';
import { compileOrigins } from './origins.ts';
import { spec, type Config } from './spec.ts';



const DEFAULT_METHODS = ['GET', 'HEAD', 'PUT', 'PATCH', 'POST', 'DELETE'];
const CORS_RESPONSE_HEADERS = ['access-control-allow-origin', 'access-control-allow-credentials', 'access-control-expose-headers'];

/** Add a token to Vary unless present (RFC 9110 §12.5.5); `Vary: *` already covers everything. */
export function addVary(h: Record<string, string | string[]>, token: string): void {
  const v = h.vary;
  if (v === undefined) { h.vary = token; return; }
  const s = Array.isArray(v) ? v.join(', ') : v;
  const lower = token.toLowerCase();
  for (const t of s.split(',')) { const x = t.trim().toLowerCase(); if (x === '*' || x === lower) return; }
  h.vary = s + ', ' + token;
}

export const cors: PolicyDefinition<Config> = {
  ...spec,
  create(config) {
    const origins = compileOrigins(config.origins);
    const credentials = config.credentials === true;
    const echo = !origins.any || credentials;
    const methods = (config.methods ?? DEFAULT_METHODS).join(', ');
    const allowHeaders = config.headers?.length ? config.headers.join(', ') : undefined;
    const expose = config.exposeHeaders?.length ? config.exposeHeaders.join(', ') : undefined;
    const maxAge = config.maxAge !== undefined ? String(Math.floor(parseDuration(config.maxAge) / 1000)) : undefined;
    const forbidden: LocalReply = Object.freeze({ code: 'GW_FORBIDDEN', detail: 'CORS origin not allowed' });

    return Object.freeze<PolicyHandlers>({
      request(ctx) {
        if (ctx.method !== 'OPTIONS') return undefined;
        const h = ctx.req.headers;
        const origin = h.origin;
        if (origin === undefined || h['access-control-request-method'] === undefined) return undefined; // plain OPTIONS: the upstream's
        if (!origins.match(origin)) return forbidden;
        const out: Record<string, string> = { 'access-control-allow-methods': methods };
        if (allowHeaders !== undefined) out['access-control-allow-headers'] = allowHeaders;
        else {
          const asked = h['access-control-request-headers'];
          if (asked) out['access-control-allow-headers'] = asked;
          out.vary = 'Access-Control-Request-Headers';
        }
        if (maxAge !== undefined) out['access-control-max-age'] = maxAge;
        return { status: 204, headers: out };
      },
      response(ctx, head) {
        const h = head.headers;
        if (echo) addVary(h, 'Origin');
        const origin = ctx.req.headers.origin;
        if (origin === undefined || !origins.match(origin)) {
          for (const k of CORS_RESPONSE_HEADERS) delete h[k];
          return;
        }
        h['access-control-allow-origin'] = echo ? origin : '*';
        if (credentials) h['access-control-allow-credentials'] = 'true';
        // Expose-Headers means nothing on a preflight answer.
        if (expose !== undefined && !(head.local && ctx.method === 'OPTIONS')) h['access-control-expose-headers'] = expose;
      },
    });
  },
};
