/**
 * response-transform: change what the client receives, on upstream and gateway responses
 * alike (docs/policies/response-transform.md). Headers: remove, rename, set (replace),
 * add (another field line, e.g. a second Set-Cookie), in that order; names compiled to
 * lower case at load time. No shadow mode: validation refuses `enforce: false` (PolicySpec.canDeny).
 */
import type { PolicyDefinition, PolicyHandlers } from '../../request/policy.ts';
import { spec, type Config } from './spec.ts';



const lower = (m: Record<string, string> | undefined): Array<readonly [string, string]> =>
  Object.entries(m ?? {}).map(([k, v]) => [k.toLowerCase(), v] as const);

export const responseTransform: PolicyDefinition<Config> = {
  ...spec,
  create(config) {
    const h = config.headers ?? {};
    const remove = (h.remove ?? []).map((n) => n.toLowerCase());
    const rename = lower(h.rename).map(([from, to]) => [from, to.toLowerCase()] as const);
    const set = lower(h.set);
    const add = lower(h.add);
    return Object.freeze<PolicyHandlers>({
      response(_ctx, head) {
        const out = head.headers;
        for (const name of remove) delete out[name];
        for (const [from, to] of rename) {
          const v = out[from];
          if (v === undefined) continue;
          delete out[from];
          out[to] = v;
        }
        for (const [k, v] of set) out[k] = v;
        for (const [k, v] of add) {
          const cur = out[k];
          out[k] = cur === undefined ? v : Array.isArray(cur) ? [...cur, v] : [cur, v];
        }
      },
    });
  },
};
