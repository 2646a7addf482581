/** cache: the config side (schema and its checks); the runtime is index.ts. */
import type { ConfigProblem, PolicySpec } from '../../schema/policy-spec.ts';
import { parseSize } from '../../schema/duration.ts';
import { schema, type Config } from './schema.ts';

export const spec: PolicySpec<Config> = {
  name: 'cache',
  phase: 'upstream',
  canDeny: false,
  // After traffic-split (100) and request-transform (0): the cache's own upstream call must
  // send what the forwarder would. Before mirror (-100): a hit is not mirrored.
  priority: -50,
  schema,
  check(config, ctx) {
    const out: ConfigProblem[] = [];
    const maxBytes = parseSize(config.maxBytes ?? '64mb');
    if (maxBytes <= 0) out.push({ path: `${ctx.path}.maxBytes`, message: 'must be above 0' });
    else if (parseSize(config.maxObjectSize ?? '1mb') > maxBytes) out.push({ path: `${ctx.path}.maxObjectSize`, message: 'must not exceed maxBytes' });
    return out;
  },
};
