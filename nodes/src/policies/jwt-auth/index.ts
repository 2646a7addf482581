/**
 * jwt-auth: a signed JWT (RFC 7519) from `Authorization: Bearer`, a header or a cookie,
 * verified with jose against keys fixed by config (keys.ts) and pinned algorithms.
 * `exp` is required; `nbf`, `iss`, `aud` (and `iat` with maxAge) are checked with
 * `clockSkew` (default 30s). Refusals follow RFC 6750 §3: no token → a bare Bearer
 * challenge; a bad one → `error="invalid_token"`. Descriptions are fixed strings: which
 * check failed is logged at debug, not told to the client.
 */
import { jwtVerify, type JWTVerifyGetKey, type JWTVerifyOptions, type JWTPayload } from 'jose';
import type { PolicyDefinition, PolicyHandlers, LocalReply, HookResult } from '../../request/policy.ts';
import type { ConsumerIdentity, RequestContext } from '../../request/context.ts';
import type { Logger } from 'pino';
import { parseDuration } from '../../schema/duration.ts';
import type { JwtAuthConfig } from './schema.ts';
import { spec } from './spec.ts';
import { findToken, precheck, withoutCookie, type Decoded } from './token.ts';
import { importStaticKeys, importSecret, remoteKeySet, candidates, isHmac, type StaticKey } from './keys.ts';
import { subjectMap, idClaim, mappedIdentity, unmappedIdentity, type Known } from './claims.ts';
import { setIdentity } from '../auth-common/identity.ts';
import { challenge, unauthorized, DEFAULT_REALM } from '../auth-common/challenge.ts';
import { anonymousFallback, markRejected, wasRejected } from '../auth-common/anonymous.ts';

type Verifier = (token: string, d: Decoded) => Promise<JWTPayload>;

/** Errors that say the key source failed, not the token: logged, still a 401 for the client. */
const SOURCE_ERRORS = new Set(['ERR_JWKS_TIMEOUT', 'ERR_JOSE_GENERIC', 'ERR_JWKS_INVALID']);

class JwtAuth implements PolicyHandlers {
  private readonly verify: Verifier;
  private readonly algorithms: ReadonlySet<string>;
  private readonly header: string;
  private readonly cookie: string | undefined;
  private readonly hide: boolean;
  private readonly maxLength: number;
  /** consumerClaim: the one way a token becomes a configured consumer; undefined = never. */
  private readonly claim: string | undefined;
  private readonly subjects: ReadonlyMap<string, Known>;
  private readonly allowUnknown: boolean;
  private readonly groupsClaim: string | undefined;
  private readonly anonymous: ConsumerIdentity | undefined;
  private readonly missing: LocalReply;
  private readonly invalid: LocalReply;
  private readonly expired: LocalReply;
  private readonly logger: Logger;
  /** The one mutable bit (the instance is frozen): when a key-source failure was last logged. */
  private readonly sourceLog = { at: 0 };

  constructor(config: JwtAuthConfig, verify: Verifier, subjects: ReadonlyMap<string, Known>, anonymous: ConsumerIdentity | undefined, logger: Logger) {
    this.verify = verify;
    this.algorithms = new Set(config.algorithms);
    this.header = (config.header ?? 'authorization').toLowerCase();
    this.cookie = config.cookie;
    this.hide = config.hideCredentials === true;
    this.maxLength = config.maxTokenLength ?? 8192;
    this.claim = config.consumerClaim;
    this.subjects = subjects;
    this.allowUnknown = config.allowUnknownSubjects === true;
    this.groupsClaim = config.groupsClaim;
    this.anonymous = anonymous;
    this.logger = logger;
    const realm = config.realm ?? DEFAULT_REALM;
    this.missing = unauthorized(challenge.bearer(realm), 'A bearer token is required');
    this.invalid = unauthorized(challenge.bearer(realm, 'invalid_token', 'The access token is invalid'), 'The access token is invalid');
    this.expired = unauthorized(challenge.bearer(realm, 'invalid_token', 'The access token expired'), 'The access token expired');
  }

  request(ctx: RequestContext): HookResult | Promise<HookResult> {
    const found = findToken(ctx, this.header, this.cookie);
    if (found === 'none') {
      if (this.anonymous !== undefined && !wasRejected(ctx)) { setIdentity(ctx, this.anonymous); return undefined; }
      return this.missing;
    }
    if (found === 'ambiguous') return this.reject(ctx, this.invalid);
    if (this.hide) this.hideToken(ctx, found.from);
    const d = precheck(found.token, this.maxLength, this.algorithms);
    if (d === undefined) return this.reject(ctx, this.invalid);
    return this.verify(found.token, d).then((claims) => this.accept(ctx, claims), (err: unknown) => this.fail(ctx, err));
  }

  private accept(ctx: RequestContext, claims: JWTPayload): HookResult {
    const all = claims as Record<string, unknown>;
    // Without consumerClaim no token is a consumer: it is its subject, nothing more.
    const id = idClaim(all[this.claim ?? 'sub']);
    if (id === undefined) return this.reject(ctx, this.invalid);
    const known = this.claim === undefined ? undefined : this.subjects.get(id);
    if (known !== undefined) { setIdentity(ctx, mappedIdentity(known, all)); return undefined; }
    if (this.claim !== undefined && !this.allowUnknown) return this.reject(ctx, this.invalid);
    setIdentity(ctx, unmappedIdentity(id, all, this.groupsClaim));
    return undefined;
  }

  private fail(ctx: RequestContext, err: unknown): LocalReply {
    const code = (err as { code?: string } | null)?.code;
    if (code === 'ERR_JWT_EXPIRED') return this.reject(ctx, this.expired);
    if ((code !== undefined && SOURCE_ERRORS.has(code)) || err instanceof TypeError) {
      // The issuer's JWKS is down or broken: worth an operator's attention, once per 10s.
      const now = Date.now();
      if (now - this.sourceLog.at > 10_000) { this.sourceLog.at = now; this.logger.warn({ err, requestId: ctx.id }, 'jwt-auth: key source unavailable'); }
    } else this.logger.debug({ code, requestId: ctx.id }, 'jwt-auth: token refused');
    return this.reject(ctx, this.invalid);
  }

  private reject(ctx: RequestContext, reply: LocalReply): LocalReply {
    markRejected(ctx);
    return reply;
  }

  private hideToken(ctx: RequestContext, from: 'header' | 'cookie'): void {
    if (from === 'header') return ctx.dropUpstreamHeader(this.header);
    const rest = withoutCookie(ctx.req.headers.cookie ?? '', this.cookie!);
    if (rest) ctx.setUpstreamHeader('cookie', rest); else ctx.dropUpstreamHeader('cookie');
  }
}

function jwksTransportOk(url: string): boolean {
  let u: URL;
  try { u = new URL(url); } catch { return false; }
  if (u.protocol === 'https:') return true;
  const h = u.hostname;
  return u.protocol === 'http:' && (h === 'localhost' || h === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h));
}

function buildVerifier(config: JwtAuthConfig, logger: Logger): Verifier {
  if (config.allowUnknownSubjects === true && config.consumerClaim === undefined) throw new Error('allowUnknownSubjects: needs consumerClaim');
  const sources = [config.jwks, config.keys, config.secret].filter((s) => s !== undefined).length;
  if (sources !== 1) throw new Error('set exactly one of jwks, keys or secret');
  // Keys fetched over plain HTTP can be swapped by anyone on the path: the attacker's key
  // would then verify the attacker's tokens. Plain HTTP only to this machine (tests, sidecars).
  if (config.jwks !== undefined && !jwksTransportOk(config.jwks)) throw new Error('jwks: plain http is allowed only to a loopback host (127.0.0.0/8, [::1], localhost); use https');
  const hmac = config.algorithms.filter(isHmac);
  if (config.secret !== undefined) {
    if (hmac.length !== config.algorithms.length) throw new Error('secret works with HS256/HS384/HS512 only; asymmetric algorithms need keys or jwks');
  } else if (hmac.length) throw new Error(`${hmac.join(', ')} need a secret; with keys or jwks only asymmetric algorithms are allowed (an HMAC algorithm would accept a public key as the secret)`);
  const options: JWTVerifyOptions = {
    algorithms: [...config.algorithms],
    requiredClaims: ['exp'],
    clockTolerance: parseDuration(config.clockSkew ?? '30s') / 1000,
    ...(config.issuer !== undefined ? { issuer: config.issuer } : {}),
    ...(config.audience !== undefined ? { audience: config.audience } : {}),
    ...(config.typ !== undefined ? { typ: config.typ } : {}),
    ...(config.maxAge !== undefined ? { maxTokenAge: parseDuration(config.maxAge) / 1000 } : {}),
  };
  if (config.secret !== undefined) {
    const secret = importSecret(config.secret, config.secretEncoding ?? 'utf8', config.algorithms);
    return async (token) => (await jwtVerify(token, secret, options)).payload;
  }
  if (config.keys !== undefined) {
    const keys = importStaticKeys(config.keys, config.algorithms);
    return (token, d) => verifyStatic(token, keys, d, options);
  }
  const set = remoteKeySet(config.jwks!, parseDuration(config.jwksMaxAge ?? '10m'), parseDuration(config.jwksCooldown ?? '30s'), parseDuration(config.jwksTimeout ?? '5s'),
    (err) => logger.warn({ err, jwks: config.jwks }, 'jwt-auth: JWKS prefetch failed'));
  return (token) => verifyRemote(token, set, options);
}

/** Try each candidate key; only a signature mismatch moves on to the next one. */
async function verifyStatic(token: string, keys: readonly StaticKey[], d: Decoded, options: JWTVerifyOptions): Promise<JWTPayload> {
  const list = candidates(keys, d.header.alg as string, d.header.kid);
  let last: unknown = Object.assign(new Error('no key matches'), { code: 'ERR_JWKS_NO_MATCHING_KEY' });
  for (const k of list) {
    try { return (await jwtVerify(token, k.key, options)).payload; } catch (err) {
      if ((err as { code?: string }).code !== 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') throw err;
      last = err;
    }
  }
  throw last;
}

async function verifyRemote(token: string, set: JWTVerifyGetKey, options: JWTVerifyOptions): Promise<JWTPayload> {
  try {
    return (await jwtVerify(token, set, options)).payload;
  } catch (err) {
    // Several keys fit a kid-less token: jose hands them over as an async iterator.
    if ((err as { code?: string }).code !== 'ERR_JWKS_MULTIPLE_MATCHING_KEYS') throw err;
    let last: unknown = err;
    for await (const key of err as AsyncIterable<CryptoKey>) {
      try { return (await jwtVerify(token, key, options)).payload; } catch (e) {
        if ((e as { code?: string }).code !== 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') throw e;
        last = e;
      }
    }
    throw last;
  }
}

export const jwtAuth: PolicyDefinition<JwtAuthConfig> = {
  ...spec,
  create(config, deps) {
    let verify: Verifier;
    try { verify = buildVerifier(config, deps.logger); } catch (err) { throw new Error(`routes.${deps.routeName}.policies.jwt-auth: ${(err as Error).message}`, { cause: err }); }
    return Object.freeze(new JwtAuth(config, verify, subjectMap(deps.config), anonymousFallback('jwt-auth', config, deps), deps.logger));
  },
};
