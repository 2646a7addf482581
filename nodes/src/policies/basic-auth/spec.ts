/** basic-auth: the config side (schema and its checks); the runtime is index.ts. */
import type { PolicySpec } from '../../schema/policy-spec.ts';
import { AUTH_PRIORITY } from '../auth-common/anonymous.ts';
import { schema, type BasicAuthConfig } from './schema.ts';

export const spec: PolicySpec<BasicAuthConfig> = {
  name: 'basic-auth',
  phase: 'authenticate',
  priority: AUTH_PRIORITY['basic-auth'],
  schema,
};
