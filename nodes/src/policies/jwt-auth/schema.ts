import Type from 'typebox';
import { authFields, HEADER_NAME, DurationField } from '../auth-common/schema.ts';

/** `none` is not in the list and can't be configured (CVE-2015-9235 class). */
export const ALGORITHMS = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

const CLAIM = { pattern: '^[A-Za-z0-9_:./-]{1,64}$', 'x-message': 'must be a claim name' };

/** A public JWK (RFC 7517); private members are refused at load time. */
const Jwk = Type.Object({ kty: Type.String() }, { additionalProperties: true });

export const schema = Type.Object({
  ...authFields,
  algorithms: Type.Array(Type.Union(ALGORITHMS.map((a) => Type.Literal(a))), { minItems: 1, description: 'accepted "alg" values, pinned; HMAC (HS*) only with secret, the others only with keys or jwks' }),
  jwks: Type.Optional(Type.String({ pattern: '^https?://[^\\s]+$', 'x-message': 'must be an http(s) URL (https outside tests)', description: 'JWKS URL of the issuer; keys are cached and refreshed on an unknown kid at most once per jwksCooldown' })),
  jwksMaxAge: Type.Optional(DurationField('how long a fetched JWKS is used before it is fetched again', '10m')),
  jwksCooldown: Type.Optional(DurationField('least time between two JWKS fetches caused by an unknown kid', '30s')),
  jwksTimeout: Type.Optional(DurationField('timeout of one JWKS fetch', '5s')),
  keys: Type.Optional(Type.Array(Type.Union([Type.String({ minLength: 1 }), Jwk]), { minItems: 1, description: 'static public keys: PEM (SPKI or certificate) or JWK objects' })),
  secret: Type.Optional(Type.String({ minLength: 1, description: 'shared secret for HS* algorithms' })),
  secretEncoding: Type.Optional(Type.Union([Type.Literal('utf8'), Type.Literal('base64'), Type.Literal('base64url')], { default: 'utf8', description: 'how secret is written; the bytes must be at least as long as the hash (32/48/64)' })),
  issuer: Type.Optional(Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })], { description: 'required iss (one of)' })),
  audience: Type.Optional(Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })], { description: 'required aud (one of)' })),
  typ: Type.Optional(Type.String({ minLength: 1, description: 'required "typ" header, e.g. at+jwt (RFC 9068)' })),
  clockSkew: Type.Optional(DurationField('tolerance for exp, nbf and iat', '30s')),
  maxAge: Type.Optional(DurationField('refuse tokens whose iat is older (requires iat)', 'none')),
  consumerClaim: Type.Optional(Type.String({ ...CLAIM, description: 'claim whose value maps a token to the consumer listing it in jwtSubjects (never to a consumer by name); unset: no token is a consumer, the upstream gets the subject only (docs/policies/jwt-auth.md#consumers)' })),
  allowUnknownSubjects: Type.Optional(Type.Boolean({ default: false, description: 'with consumerClaim: accept a token whose claim no consumer lists, as its subject only (no consumer name); false: 401' })),
  groupsClaim: Type.Optional(Type.String({ ...CLAIM, description: 'claim holding the groups of a token that is no configured consumer (array, or space/comma separated)' })),
  header: Type.Optional(Type.String({ ...HEADER_NAME, default: 'authorization', description: 'header carrying the token (Bearer scheme required in Authorization, optional elsewhere)' })),
  cookie: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]{1,64}$', 'x-message': 'must be a cookie name', description: 'cookie carrying the token when the header has none' })),
  maxTokenLength: Type.Optional(Type.Integer({ minimum: 256, maximum: 65536, default: 8192, description: 'longer tokens are refused before any parsing' })),
  hideCredentials: Type.Optional(Type.Boolean({ description: 'remove the token from the forwarded request (default false: upstreams often re-check it)' })),
}, { additionalProperties: false });

export interface JwtAuthConfig {
  enforce?: boolean;
  anonymous?: string;
  realm?: string;
  algorithms: Algorithm[];
  jwks?: string;
  jwksMaxAge?: string;
  jwksCooldown?: string;
  jwksTimeout?: string;
  keys?: Array<string | Record<string, unknown>>;
  secret?: string;
  secretEncoding?: 'utf8' | 'base64' | 'base64url';
  issuer?: string | string[];
  audience?: string | string[];
  typ?: string;
  clockSkew?: string;
  maxAge?: string;
  consumerClaim?: string;
  allowUnknownSubjects?: boolean;
  groupsClaim?: string;
  header?: string;
  cookie?: string;
  maxTokenLength?: number;
  hideCredentials?: boolean;
}
