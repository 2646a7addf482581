/** basic-auth: the config side (schema and its checks); the runtime is index.ts. */
import type { ConfigProblem, PolicySpec } from '../../schema/policy-spec.ts';
import { parseScrypt } from './scrypt.ts';
import { AUTH_PRIORITY } from '../auth-common/anonymous.ts';
import { schema, type BasicAuthConfig } from './schema.ts';

export const spec: PolicySpec<BasicAuthConfig> = {
  name: 'basic-auth',
  phase: 'authenticate',
  canDeny: true,
  priority: AUTH_PRIORITY['basic-auth'],
  schema,
  /** A consumer's password hashes must be ones basic-auth can load (scrypt parameters in range). */
  checkConsumer(consumer, path) {
    const out: ConfigProblem[] = [];
    (consumer?.passwords ?? []).forEach((s, i) => {
      try { parseScrypt(s); } catch (err) { out.push({ path: `${path}.passwords[${i}]`, message: (err as Error).message }); }
    });
    return out;
  },
};
