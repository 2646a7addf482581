/**
 * rate-limit config. Two forms: the flat one of the contract
 * (`{ limit: 100, window: 1m, by: consumer, scope: cluster }`) or several limits that must
 * all pass (`limits: [{limit: 10, window: 1s}, {limit: 1000, window: 1h}]`).
 */
import Type, { type Static } from 'typebox';
import { Duration } from '../../schema/model.ts';

const TOKEN = "[A-Za-z0-9!#$%&'*+.^_`|~-]+";
export const KeyPart = Type.String({
  pattern: `^(consumer|ip|route|header:${TOKEN})$`,
  'x-message': 'must be consumer, ip, route or header:NAME',
  description: 'what identifies a client: consumer (falls back to the client IP when none), ip, route (one count for the route), header:NAME (falls back to the client IP when absent)',
});

const Count = (description: string) => Type.Integer({ minimum: 1, maximum: 1_000_000_000, description });
const PolicyName = Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$', 'x-message': 'must be 1-64 letters, digits, . _ -', description: 'name in the RateLimit-Policy / RateLimit headers' });

export const Limit = Type.Object({
  name: Type.Optional(PolicyName),
  limit: Count('requests per window'),
  window: Duration,
  burst: Type.Optional(Count('requests that may come at once (default: limit)')),
}, { additionalProperties: false });

const ONE_FORM = 'needs limit and window, or limits (not both)';

export const schema = Type.Object({
  enforce: Type.Optional(Type.Boolean({ description: 'false = shadow mode: count what would be refused, refuse nothing, send no headers' })),
  name: Type.Optional(PolicyName),
  limit: Type.Optional(Count('requests per window (with window; or use limits)')),
  window: Type.Optional(Type.String({ ...Duration, description: 'the window of limit' })),
  burst: Type.Optional(Count('requests that may come at once (default: limit)')),
  limits: Type.Optional(Type.Array(Limit, { minItems: 1, maxItems: 8, description: 'several limits that must all pass (instead of limit/window)' })),
  by: Type.Optional(Type.Union([KeyPart, Type.Array(KeyPart, { minItems: 1, maxItems: 4 })], { description: 'default consumer; a list makes one key of several parts' })),
  scope: Type.Optional(Type.Union([Type.Literal('local'), Type.Literal('cluster')], { description: 'local: this node (all its workers); cluster: every node (falls back to local until a cluster store exists)' })),
  maxKeys: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000_000, description: 'keys held per limit (default 100000); at the cap the least recently used key is dropped' })),
  headers: Type.Optional(Type.Boolean({ description: 'send RateLimit-Policy and RateLimit on responses (default true)' })),
}, {
  additionalProperties: false,
  // Written with `not` and `dependencies` rather than oneOf/required, so a wrong form is
  // reported as one sentence instead of every branch's missing fields.
  'x-message': ONE_FORM,
  dependencies: { limit: ['window'], window: ['limit'], burst: ['limit'] },
  allOf: [
    { not: { not: { anyOf: [{ required: ['limit'] }, { required: ['limits'] }] } }, 'x-message': ONE_FORM },
    { not: { required: ['limits'], anyOf: [{ required: ['limit'] }, { required: ['window'] }, { required: ['burst'] }] }, 'x-message': ONE_FORM },
  ],
});

export type Config = Static<typeof schema>;
