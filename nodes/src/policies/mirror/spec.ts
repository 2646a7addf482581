/** mirror: the config side (schema, upstream reference); the runtime is index.ts. */
import Type from 'typebox';
import type { PolicySpec } from '../../schema/policy-spec.ts';

export const schema = Type.Object({
  enforce: Type.Optional(Type.Boolean({ description: 'only true: this policy never refuses a request, so it has no shadow mode (enforce: false is refused)' })),
  upstream: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$', 'x-message': 'must be an upstream name', description: 'where the copies go' }),
  percent: Type.Optional(Type.Number({ minimum: 0, maximum: 100, description: 'share of requests copied (default 100)' })),
  maxConcurrent: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, description: 'copies in flight at most (default 64)' })),
}, { additionalProperties: false });

export interface Config { enforce?: boolean; upstream: string; percent?: number; maxConcurrent?: number }

export const spec: PolicySpec<Config> = {
  name: 'mirror',
  phase: 'upstream',
  canDeny: false,
  upstreamRefs: (c) => [[['upstream'], c.upstream]],
  priority: -100,
  schema,
};
