/** rate-limit: the config side (schema and its checks); the runtime is index.ts. */
import { problemOf, type PolicySpec } from '../../schema/policy-spec.ts';
import { limitsOf } from './limits.ts';
import { schema, type Config } from './schema.ts';

export const spec: PolicySpec<Config> = {
  name: 'rate-limit',
  phase: 'traffic',
  canDeny: true,
  priority: 900,
  schema,
  check(config, ctx) {
    try { limitsOf(config, ctx.path); return []; } catch (err) { return [problemOf(err, ctx.path)]; }
  },
};
