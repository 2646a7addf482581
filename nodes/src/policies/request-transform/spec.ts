/** request-transform: the config side (schema, template and rename checks); the runtime is index.ts. */
import Type from 'typebox';
import type { ConfigProblem, PolicySpec } from '../../schema/policy-spec.ts';
import { isIdentityHeader } from '../../http/headers.ts';
import { templateErrors } from '../../core/template.ts';
import { HeaderOps, QueryOps, type HeaderOpsConfig, type QueryOpsConfig } from './schema.ts';

export const schema = Type.Object({
  enforce: Type.Optional(Type.Boolean({ description: 'only true: this policy never refuses a request, so it has no shadow mode (enforce: false is refused)' })),
  headers: Type.Optional(HeaderOps),
  query: Type.Optional(QueryOps),
  path: Type.Optional(Type.String({ pattern: '^/[^\\r\\n\\x00?#]*$', 'x-message': 'must start with / (may use :param and * from the route match), no ? or #', description: 'path sent upstream' })),
}, { additionalProperties: false });

export interface Config { enforce?: boolean; headers?: HeaderOpsConfig; query?: QueryOpsConfig; path?: string }

export const spec: PolicySpec<Config> = {
  name: 'request-transform',
  phase: 'upstream',
  canDeny: false,
  priority: 0,
  schema,
  check(config, ctx) {
    const out: ConfigProblem[] = [];
    for (const to of Object.values(config.headers?.rename ?? {})) {
      if (isIdentityHeader(to.toLowerCase())) out.push({ path: `${ctx.path}.headers.rename`, message: `may not rename into ${to.toLowerCase()} (identity headers come from the gateway only)` });
    }
    if (config.path !== undefined) {
      const route = ctx.doc.routes?.[ctx.routeName];
      if (route?.rewrite?.path || route?.rewrite?.stripPrefix) out.push({ path: `${ctx.path}.path`, message: 'the route already rewrites its path (rewrite); use one or the other' });
      const paths = route?.match?.paths;
      if (Array.isArray(paths)) for (const message of templateErrors(config.path, paths.filter((p) => typeof p === 'string'))) out.push({ path: `${ctx.path}.path`, message });
    }
    return out;
  },
};
