/** jwt-auth: the config side (schema and its checks); the runtime is index.ts. */
import type { PolicySpec } from '../../schema/policy-spec.ts';
import { AUTH_PRIORITY } from '../auth-common/anonymous.ts';
import { schema, type JwtAuthConfig } from './schema.ts';
import { subjectConflicts } from './claims.ts';

export const spec: PolicySpec<JwtAuthConfig> = {
  name: 'jwt-auth',
  phase: 'authenticate',
  canDeny: true,
  priority: AUTH_PRIORITY['jwt-auth'],
  schema,
  check(config, ctx) {
    const out = subjectConflicts(ctx.doc.consumers);
    // Without consumerClaim every verified token is accepted as its subject already: the flag
    // would read as if subjects were checked against consumers, which nothing does.
    if (config.allowUnknownSubjects === true && config.consumerClaim === undefined) {
      out.push({ path: `${ctx.path}.allowUnknownSubjects`, message: 'needs consumerClaim: without it no token is mapped to a consumer and every subject is accepted as itself; set consumerClaim (e.g. sub) to map tokens through consumers\' jwtSubjects' });
    }
    return out;
  },
};
