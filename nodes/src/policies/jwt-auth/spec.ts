/** jwt-auth: the config side (schema and its checks); the runtime is index.ts. */
import type { PolicySpec } from '../../schema/policy-spec.ts';
import { AUTH_PRIORITY } from '../auth-common/anonymous.ts';
import { schema, type JwtAuthConfig } from './schema.ts';

export const spec: PolicySpec<JwtAuthConfig> = {
  name: 'jwt-auth',
  phase: 'authenticate',
  priority: AUTH_PRIORITY['jwt-auth'],
  schema,
};
