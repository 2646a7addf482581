/** validate: the config side (schema and its checks); the runtime is index.ts. */
import type { PolicySpec } from '../../schema/policy-spec.ts';
import { schema, type ValidateConfig } from './schema.ts';

export const spec: PolicySpec<ValidateConfig> = {
  name: 'validate',
  phase: 'validate',
  canDeny: true,
  priority: 0,
  schema,
};
