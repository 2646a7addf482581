/** cache: the config side (schema and its checks); the runtime is index.ts. */
import type { PolicySpec } from '../../schema/policy-spec.ts';
import { schema, type Config } from './schema.ts';

export const spec: PolicySpec<Config> = {
  name: 'cache',
  phase: 'upstream',
  // After traffic-split (100) and request-transform (0): the cache's own upstream call must
  // send what the forwarder would. Before mirror (-100): a hit is not mirrored.
  priority: -50,
  schema,
};
