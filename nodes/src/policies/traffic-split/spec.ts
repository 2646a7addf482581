/** traffic-split: the config side (schema, upstream references, weights); the runtime is index.ts. */
import Type from 'typebox';
import type { PolicySpec } from '../../schema/policy-spec.ts';

export const schema = Type.Object({
  enforce: Type.Optional(Type.Boolean({ description: 'only true: this policy never refuses a request, so it has no shadow mode (enforce: false is refused)' })),
  upstreams: Type.Array(Type.Object({
    name: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$', 'x-message': 'must be an upstream name' }),
    weight: Type.Integer({ minimum: 0, maximum: 10_000, description: 'share of the traffic, relative to the others' }),
  }, { additionalProperties: false }), { minItems: 1, maxItems: 16, description: 'upstreams and their weights (list the route\'s own to keep traffic there)' }),
  sticky: Type.Optional(Type.String({ pattern: "^(consumer|ip|header:[A-Za-z0-9!#$%&'*+.^_`|~-]+)$", 'x-message': 'must be consumer, ip or header:NAME', description: 'keep one client on one upstream (missing key: the client IP)' })),
}, { additionalProperties: false });

export interface Config { enforce?: boolean; upstreams: Array<{ name: string; weight: number }>; sticky?: string }

export const spec: PolicySpec<Config> = {
  name: 'traffic-split',
  phase: 'upstream',
  canDeny: false,
  upstreamRefs: (c) => c.upstreams.map((u, i) => [['upstreams', i, 'name'], u.name]),
  priority: 100,
  schema,
  check(config, ctx) {
    if (!config.upstreams.some((u) => u.weight > 0)) return [{ path: `${ctx.path}.upstreams`, message: 'at least one weight must be above 0' }];
    return [];
  },
};
