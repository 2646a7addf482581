/** key-auth: the config side (schema and its checks); the runtime is index.ts. */
import type { PolicySpec } from '../../schema/policy-spec.ts';
import { AUTH_PRIORITY } from '../auth-common/anonymous.ts';
import { schema, type KeyAuthConfig } from './schema.ts';

export const spec: PolicySpec<KeyAuthConfig> = {
  name: 'key-auth',
  phase: 'authenticate',
  canDeny: true,
  priority: AUTH_PRIORITY['key-auth'],
  schema,
  check(config, ctx) {
    if (config.header === null && config.query === undefined) return [{ path: `${ctx.path}.header`, message: 'is null and no query is set, so no key could ever be presented' }];
    return [];
  },
};
