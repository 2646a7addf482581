/** basic-auth: the config side (schema and its checks); the runtime is index.ts. */
import type { ConfigProblem, PolicySpec } from '../../schema/policy-spec.ts';
import { parseScrypt } from './scrypt.ts';
import { AUTH_PRIORITY } from '../auth-common/anonymous.ts';
import { schema, type BasicAuthConfig } from './schema.ts';

export const spec: PolicySpec<BasicAuthConfig> = {
  name: 'basic-auth',
  phase: 'authenticate',
  priority: AUTH_PRIORITY['basic-auth'],
  schema,
  /** The consumers' password hashes this route would load (reported once per document by validation). */
  check(_config, ctx) {
    const out: ConfigProblem[] = [];
    for (const [name, c] of Object.entries(ctx.doc.consumers ?? {})) {
      (c?.passwords ?? []).forEach((s, i) => {
        try { parseScrypt(s); } catch (err) { out.push({ path: `consumers.${name}.passwords[${i}]`, message: (err as Error).message }); }
      });
    }
    return out;
  },
};
