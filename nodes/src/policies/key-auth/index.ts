/**
 * key-auth: an API key in a header (default x-api-key) or a query parameter. Consumers
 * store only `sha256:<hex>` digests (`gatehouse hash-key`), so a leaked config leaks no key.
 *
 * Lookup: sha256 of the presented key → the shared consumer index's Map of digests; then the stored
 * digest is compared without an early exit (constantTimeEqual). The Map lookup is on the digest,
 * so its timing tells an attacker at most something about sha256(guess), which is useless
 * without a preimage; the constant-time compare makes that independent of Map internals.
 *
 * Ambiguity is refused, not resolved: a repeated parameter (`?api_key=a&api_key=b`) or a
 * repeated header could be read as a different key by the upstream (HTTP parameter
 * pollution, CWE-235). The credential is removed from the forwarded request unless
 * `hideCredentials: false`, whether it was valid or not, so a key never reaches logs upstream.
 */
import { hash } from 'node:crypto';
import type { PolicyDefinition, PolicyHandlers, LocalReply } from '../../request/policy.ts';
import type { ConsumerIdentity, RequestContext } from '../../request/context.ts';
import type { KeyAuthConfig } from './schema.ts';
import { spec } from './spec.ts';
import { removeQueryParam } from './query.ts';
import { setIdentity } from '../auth-common/identity.ts';
import { challenge, unauthorized, DEFAULT_REALM } from '../auth-common/challenge.ts';
import { anonymousFallback, markRejected, wasRejected } from '../auth-common/anonymous.ts';
import { consumerIndex, type KeyLookup } from '../auth-common/consumers.ts';

class KeyAuth implements PolicyHandlers {
  private readonly header: string | undefined;
  private readonly query: string | undefined;
  private readonly hide: boolean;
  private readonly keys: KeyLookup;
  private readonly anonymous: ConsumerIdentity | undefined;
  private readonly missing: LocalReply;
  private readonly invalid: LocalReply;

  constructor(config: KeyAuthConfig, keys: KeyLookup, anonymous: ConsumerIdentity | undefined) {
    this.header = config.header === null ? undefined : (config.header ?? 'x-api-key').toLowerCase();
    this.query = config.query;
    this.hide = config.hideCredentials !== false;
    this.keys = keys;
    this.anonymous = anonymous;
    const c = challenge.apiKey(config.realm ?? DEFAULT_REALM);
    this.missing = unauthorized(c, 'An API key is required');
    this.invalid = unauthorized(c, 'The API key is not valid');
  }

  request(ctx: RequestContext): LocalReply | undefined {
    let key: string | undefined;
    let encoding: 'latin1' | 'utf8' = 'latin1';
    let ambiguous = false;
    if (this.header !== undefined) {
      const v = ctx.req.headers[this.header];
      if (v !== undefined) {
        if (this.hide) ctx.dropUpstreamHeader(this.header);
        // Node joins repeated unknown headers with ', '; an array only comes from odd names.
        if (typeof v === 'string') key = v; else ambiguous = true;
      }
    }
    if (this.query !== undefined && ctx.rawQuery !== '') {
      const all = ctx.searchParams.getAll(this.query);
      if (all.length) {
        if (this.hide) ctx.rawQuery = removeQueryParam(ctx.rawQuery, this.query);
        if (all.length > 1) ambiguous = true;
        else if (key === undefined && !ambiguous) { key = all[0]!; encoding = 'utf8'; }
      }
    }
    if (ambiguous) return this.reject(ctx);
    if (key === undefined) {
      if (this.anonymous !== undefined && !wasRejected(ctx)) { setIdentity(ctx, this.anonymous); return undefined; }
      return this.missing;
    }
    // Header values are latin1 strings in Node (one char per byte): hash those bytes, which
    // are the UTF-8 the client sent; a query value is already decoded from UTF-8.
    // One-shot crypto.hash of a string to hex is ~3x cheaper than a Buffer in and out; a
    // header value is latin1 (one char per byte), which equals its UTF-8 only when ASCII.
    const hex = encoding === 'utf8' || isAscii(key) ? hash('sha256', key, 'hex') : hash('sha256', Buffer.from(key, 'latin1'), 'hex');
    const hit = this.keys.get(hex);
    if (hit === undefined || !constantTimeEqual(hex, hit.hex)) return this.reject(ctx);
    setIdentity(ctx, hit.identity);
    return undefined;
  }

  private reject(ctx: RequestContext): LocalReply {
    markRejected(ctx);
    return this.invalid;
  }
}

export const keyAuth: PolicyDefinition<KeyAuthConfig> = {
  ...spec,
  create(config, deps) {
    // One index per distinct consumers object, shared by every key-auth instance (auth-common/consumers.ts).
    const index = consumerIndex(deps.config.consumers);
    if (index.conflict !== undefined) throw new Error(index.conflict);
    return Object.freeze(new KeyAuth(config, index.keys, anonymousFallback('key-auth', config, deps)));
  },
};

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** Equal-length strings compared without an early exit (the digest, never the key itself). */
function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return d === 0;
}
