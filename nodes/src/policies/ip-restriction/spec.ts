/** ip-restriction: the config side (schema, address and pattern checks); the runtime is index.ts. */
import Type from 'typebox';
import type { ConfigProblem, PolicySpec } from '../../schema/policy-spec.ts';
import { CidrSet } from '../../http/cidr.ts';
import { compileGlobs } from './glob.ts';

const Cidr = Type.String({ minLength: 1, maxLength: 64, description: 'IPv4 or IPv6 address or CIDR' });
const Pattern = Type.String({ minLength: 1, maxLength: 256, description: 'substring, or a glob with * (case-insensitive; no regex)' });

export const schema = Type.Object({
  enforce: Type.Optional(Type.Boolean()),
  allow: Type.Optional(Type.Array(Cidr, { minItems: 1, description: 'only these addresses may pass' })),
  deny: Type.Optional(Type.Array(Cidr, { description: 'these addresses are refused (wins over allow)' })),
  denyUserAgents: Type.Optional(Type.Array(Pattern, { description: 'User-Agent patterns to refuse; a missing User-Agent is matched as ""' })),
  denyReferers: Type.Optional(Type.Array(Pattern, { description: 'Referer patterns to refuse; a missing Referer is matched as ""' })),
}, { additionalProperties: false });

export interface Config { allow?: string[]; deny?: string[]; denyUserAgents?: string[]; denyReferers?: string[] }

export const spec: PolicySpec<Config> = {
  name: 'ip-restriction',
  phase: 'request',
  canDeny: true,
  // Early in the first phase: refuse before any other work (Kong runs it at 990, before auth).
  priority: 1000,
  schema,
  check(config, ctx) {
    const out: ConfigProblem[] = [];
    const attempt = (field: string, compile: () => unknown): void => {
      try { compile(); } catch (err) { out.push({ path: `${ctx.path}.${field}`, message: (err as Error).message }); }
    };
    if (config.allow?.length) attempt('allow', () => new CidrSet(config.allow!));
    if (config.deny?.length) attempt('deny', () => new CidrSet(config.deny!));
    attempt('denyUserAgents', () => compileGlobs(config.denyUserAgents));
    attempt('denyReferers', () => compileGlobs(config.denyReferers));
    if (!config.allow?.length && !config.deny?.length && !config.denyUserAgents?.length && !config.denyReferers?.length) out.push({ path: ctx.path, message: 'needs allow, deny, denyUserAgents or denyReferers' });
    return out;
  },
};
