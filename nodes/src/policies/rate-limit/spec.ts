/** rate-limit: the config side (schema and its checks); the runtime is index.ts. */
import type { PolicySpec } from '../../schema/policy-spec.ts';
import { schema, type Config } from './schema.ts';

export const spec: PolicySpec<Config> = {
  name: 'rate-limit',
  phase: 'traffic',
  priority: 900,
  schema,
};
