/**
 * basic-auth: `Authorization: Basic` (RFC 7617) against consumers' scrypt password hashes.
 * The user-id is the consumer name. Verification is async (scrypt runs on the libuv pool);
 * successes are cached for `cacheTtl` (cache.ts explains the trade-off). An unknown user
 * costs one scrypt against a dummy hash too, so response time doesn't reveal which
 * consumer names exist (user enumeration, CWE-204).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { PolicyDefinition, PolicyHandlers, LocalReply, HookResult } from '../../request/policy.ts';
import type { ConsumerIdentity, RequestContext } from '../../request/context.ts';
import type { Logger } from 'pino';
import { parseDuration } from '../../schema/duration.ts';
import type { BasicAuthConfig } from './schema.ts';
import { spec } from './spec.ts';
import { parseBasic } from './parse.ts';
import { parseScrypt, verifyScrypt, DEFAULT_PARAMS, type ScryptHash } from './scrypt.ts';
import { VerifiedCache } from './cache.ts';
import { setIdentity } from '../auth-common/identity.ts';
import { challenge, unauthorized, DEFAULT_REALM } from '../auth-common/challenge.ts';
import { anonymousFallback, markRejected, wasRejected } from '../auth-common/anonymous.ts';
import { consumerIndex, identityOf } from '../auth-common/consumers.ts';
import type { Consumer } from '../../schema/model.ts';

interface Account { identity: ConsumerIdentity; hashes: readonly ScryptHash[] }

/** Stands in for a missing account so a miss costs what a hit costs. */
const DUMMY: ScryptHash = { ...DEFAULT_PARAMS, salt: randomBytes(16), hash: randomBytes(32) };

class BasicAuth implements PolicyHandlers {
  private readonly accounts: ReadonlyMap<string, Account>;
  private readonly anonymous: ConsumerIdentity | undefined;
  private readonly hide: boolean;
  private readonly cache: VerifiedCache;
  private readonly missing: LocalReply;
  private readonly invalid: LocalReply;
  private readonly logger: Logger;

  constructor(config: BasicAuthConfig, accounts: ReadonlyMap<string, Account>, anonymous: ConsumerIdentity | undefined, logger: Logger) {
    this.accounts = accounts;
    this.anonymous = anonymous;
    this.hide = config.hideCredentials !== false;
    this.cache = new VerifiedCache(parseDuration(config.cacheTtl ?? '60s'), config.cacheSize ?? 10000);
    const c = challenge.basic(config.realm ?? DEFAULT_REALM);
    this.missing = unauthorized(c, 'Credentials are required');
    this.invalid = unauthorized(c, 'The credentials are not valid');
    this.logger = logger;
  }

  request(ctx: RequestContext): HookResult | Promise<HookResult> {
    const p = parseBasic(ctx.req.headers.authorization);
    if (p.kind === 'none') {
      if (this.anonymous !== undefined && !wasRejected(ctx)) { setIdentity(ctx, this.anonymous); return undefined; }
      return this.missing;
    }
    if (this.hide) ctx.dropUpstreamHeader('authorization');
    if (p.kind === 'malformed') return this.reject(ctx);
    const key = createHash('sha256').update(p.raw).digest('base64');
    const now = Date.now();
    const hit = this.cache.get(key, now);
    if (hit !== undefined) { setIdentity(ctx, hit); return undefined; }
    const account = this.accounts.get(p.user);
    return this.verify(p.password, account).then((ok) => {
      if (!ok || account === undefined) return this.reject(ctx);
      this.cache.set(key, account.identity, Date.now());
      setIdentity(ctx, account.identity);
      return undefined;
    }, (err: unknown) => {
      // scrypt itself failed (memory): log it, refuse the request; never a 500 with text.
      this.logger.error({ err, requestId: ctx.id }, 'password verification failed');
      return this.reject(ctx);
    });
  }

  private async verify(password: Buffer, account: Account | undefined): Promise<boolean> {
    if (account === undefined || account.hashes.length === 0) { await verifyScrypt(password, DUMMY); return false; }
    for (const h of account.hashes) if (await verifyScrypt(password, h)) return true;
    return false;
  }

  private reject(ctx: RequestContext): LocalReply {
    markRejected(ctx);
    return this.invalid;
  }
}

export const basicAuth: PolicyDefinition<BasicAuthConfig> = {
  ...spec,
  create(config, deps) {
    // Parsed once per distinct consumers object and shared by every basic-auth instance.
    const accounts = consumerIndex(deps.config.consumers).derived('basic-auth', buildAccounts);
    return Object.freeze(new BasicAuth(config, accounts, anonymousFallback('basic-auth', config, deps), deps.logger));
  },
};

function buildAccounts(consumers: Readonly<Record<string, Consumer>>): ReadonlyMap<string, Account> {
  const accounts = new Map<string, Account>();
  for (const [name, c] of Object.entries(consumers)) {
    if (!c.passwords?.length) continue;
    const hashes = c.passwords.map((s, i) => {
      try { return parseScrypt(s); } catch (err) { throw new Error(`consumers.${name}.passwords[${i}]: ${(err as Error).message}`, { cause: err }); }
    });
    accounts.set(name, { identity: identityOf(name, c, 'basic-auth'), hashes });
  }
  return accounts;
}
