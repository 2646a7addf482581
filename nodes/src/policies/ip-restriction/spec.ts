/** ip-restriction: the config side (schema, address and pattern checks); the runtime is index.ts. */
import Type from 'typebox';
import type { PolicySpec } from '../../schema/policy-spec.ts';

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
  // Early in the first phase: refuse before any other work (Kong runs it at 990, before auth).
  priority: 1000,
  schema,
};
