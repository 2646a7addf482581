/**
 * request-transform: change what the upstream receives. Headers: `set` (replace),
 * `remove`; names are compiled to lower case at load time. Runs in the `upstream`
 * phase, after authentication, so it cannot be used to forge identity headers before auth
 * (the gateway sets those itself).
 */
import Type from 'typebox';
import type { PolicyDefinition, PolicyHandlers } from '../../pipeline/types.ts';

const HeaderName = Type.String({ pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$', 'x-message': 'must be an HTTP header name' });

export const schema = Type.Object({
  enforce: Type.Optional(Type.Boolean()),
  headers: Type.Optional(Type.Object({
    set: Type.Optional(Type.Record(Type.String(), Type.String({ pattern: '^[^\\r\\n\\x00]*$', 'x-message': 'must not contain CR, LF or NUL' }))),
    remove: Type.Optional(Type.Array(HeaderName)),
  }, { additionalProperties: false })),
}, { additionalProperties: false });

interface Config { headers?: { set?: Record<string, string>; remove?: string[] } }

export const requestTransform: PolicyDefinition<Config> = {
  name: 'request-transform',
  phase: 'upstream',
  priority: 0,
  schema,
  create(config) {
    const set = Object.entries(config.headers?.set ?? {}).map(([k, v]) => [k.toLowerCase(), v] as const);
    const remove = (config.headers?.remove ?? []).map((h) => h.toLowerCase());
    return Object.freeze<PolicyHandlers>({
      request(ctx) {
        for (const name of remove) ctx.dropUpstreamHeader(name);
        for (const [k, v] of set) ctx.setUpstreamHeader(k, v);
      },
    });
  },
};
