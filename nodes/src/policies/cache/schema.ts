/** cache policy config (docs/policies/cache.md). */
import Type from 'typebox';
import { DURATION_PATTERN, SIZE_PATTERN } from '../../schema/duration.ts';

/** A duration / size with its own description (the model's Duration and Size carry none). */
const dur = (description: string) => Type.String({ pattern: DURATION_PATTERN, 'x-message': 'must be a duration like 250ms, 5s, 1m or 2h', description });
const size = (description: string) => Type.Union([
  Type.Integer({ minimum: 0 }),
  Type.String({ pattern: SIZE_PATTERN, 'x-message': 'must be a size like 1048576, 64kb or 1mb' }),
], { description });

const HeaderName = Type.String({ pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$", 'x-message': 'must be an HTTP header name' });
const QueryName = Type.String({ minLength: 1, maxLength: 128 });

export const schema = Type.Object({
  enforce: Type.Optional(Type.Boolean({ description: 'only true: this policy never refuses a request, so it has no shadow mode (enforce: false is refused)' })),
  ttl: Type.Optional(dur('freshness of a response without an explicit one (no max-age, s-maxage or Expires), only for heuristically cacheable statuses (200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501) or responses marked public; default 30s, 0s = store only what says how long it is fresh')),
  maxBytes: Type.Optional(size('bound of the cache of this process in bytes, shared by every route using it (the largest setting applies); default 64mb')),
  maxObjectSize: Type.Optional(size('largest response body stored; default 1mb')),
  methods: Type.Optional(Type.Array(Type.String({ pattern: '^(GET|HEAD)$', 'x-message': 'must be GET or HEAD' }), { minItems: 1, uniqueItems: true, description: 'methods answered from the cache (default GET, HEAD; HEAD is answered from a stored GET)' })),
  allowAuthorized: Type.Optional(Type.Boolean({ description: 'let requests with Authorization use the cache, for responses marked public, must-revalidate or s-maxage (RFC 9111 §3.5); default false' })),
  heuristicCredentialed: Type.Optional(Type.Boolean({ description: 'apply ttl (heuristic freshness) to responses to requests carrying Cookie or Authorization too; default false: such responses are stored only with explicit freshness' })),
  storeSetCookie: Type.Optional(Type.Boolean({ description: 'store responses carrying Set-Cookie (every client then gets that cookie); default false' })),
  targeted: Type.Optional(Type.Array(HeaderName, { maxItems: 8, uniqueItems: true, description: 'targeted cache-control fields (RFC 9213) this cache obeys, in priority order: the first one present and valid replaces Cache-Control and Expires; default [CDN-Cache-Control], [] = only Cache-Control' })),
  lockTimeout: Type.Optional(dur('how long concurrent misses of one key wait for the request filling it before going upstream themselves; default 5s')),
  key: Type.Optional(Type.Object({
    headers: Type.Optional(Type.Array(HeaderName, { maxItems: 16, description: 'request headers whose values select the stored response, as if the upstream sent Vary with them' })),
    query: Type.Optional(Type.Union([Type.Boolean(), Type.Array(QueryName, { maxItems: 64 })], { 'x-message': 'must be true, false or a list of parameter names', description: 'true: the raw query as received (default); false: ignored; a list: only those parameters' })),
    consumer: Type.Optional(Type.Boolean({ description: 'one stored response per authenticated consumer; default false' })),
  }, { additionalProperties: false })),
}, { additionalProperties: false });

export interface Config {
  enforce?: boolean;
  ttl?: string;
  maxBytes?: string | number;
  maxObjectSize?: string | number;
  methods?: Array<'GET' | 'HEAD'>;
  allowAuthorized?: boolean;
  storeSetCookie?: boolean;
  heuristicCredentialed?: boolean;
  lockTimeout?: string;
  targeted?: string[];
  key?: { headers?: string[]; query?: boolean | string[]; consumer?: boolean };
}
