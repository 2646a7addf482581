/** cors: the config side (schema); the runtime is index.ts. */
import Type from 'typebox';
import type { PolicySpec } from '../../schema/policy-spec.ts';
import { Duration } from '../../schema/model.ts';
import { ORIGIN_PATTERN } from './origins.ts';

const HeaderName = Type.String({ pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$", 'x-message': 'must be an HTTP header name' });

export const schema = Type.Object({
  enforce: Type.Optional(Type.Boolean({ description: 'false = shadow mode: preflights are judged and a refusal counted, but every request goes to the upstream and no CORS header is added or removed' })),
  origins: Type.Array(Type.String({ pattern: ORIGIN_PATTERN, 'x-message': 'must be *, null, an origin (https://app.example.com[:port]) or a pattern (https://*.example.com)' }), { minItems: 1, description: 'allowed origins' }),
  methods: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Z]{1,16}$', 'x-message': 'must be an upper-case HTTP method' }), { minItems: 1, description: 'default GET, HEAD, PUT, PATCH, POST, DELETE' })),
  headers: Type.Optional(Type.Array(HeaderName, { description: 'request headers allowed; default: those the preflight asks for' })),
  exposeHeaders: Type.Optional(Type.Array(HeaderName, { description: 'response headers the page may read' })),
  credentials: Type.Optional(Type.Boolean({ description: 'allow cookies / Authorization (origin echoed, never *)' })),
  maxAge: Type.Optional(Type.String({ ...Duration, description: 'how long browsers cache a preflight answer (sent in seconds)' })),
}, { additionalProperties: false });

export interface Config { enforce?: boolean; origins: string[]; methods?: string[]; headers?: string[]; exposeHeaders?: string[]; credentials?: boolean; maxAge?: string }

export const spec: PolicySpec<Config> = {
  name: 'cors',
  phase: 'request',
  canDeny: true,
  priority: 2000,
  schema,
};
