/**
 * Cache of successful verifications, keyed by sha256(user:password).
 *
 * Trade-off (documented in docs/policies/basic-auth.md): scrypt is deliberately slow (tens
 * of ms on the libuv pool), so verifying it on every request would cap a route at a few
 * hundred requests per second per core. Caching a success for `cacheTtl` makes repeat
 * requests cost one sha256. The price: while an entry lives, the process memory holds a
 * fast hash of the password (a memory dump would allow a fast offline guess of it instead
 * of an scrypt-speed one), and a password removed from config stays valid for at most the
 * TTL, except that each config change builds a new policy with an empty cache.
 * Failures are never cached, so a wrong password can't poison anything.
 */
import type { ConsumerIdentity } from '../../request/context.ts';

interface Entry { identity: ConsumerIdentity; expires: number }

export class VerifiedCache {
  private readonly ttl: number;
  private readonly max: number;
  private readonly map = new Map<string, Entry>();

  constructor(ttlMs: number, max: number) {
    this.ttl = ttlMs;
    this.max = max;
  }

  get(key: string, now: number): ConsumerIdentity | undefined {
    const e = this.map.get(key);
    if (e === undefined) return undefined;
    if (e.expires <= now) { this.map.delete(key); return undefined; }
    return e.identity;
  }

  set(key: string, identity: ConsumerIdentity, now: number): void {
    if (this.ttl <= 0) return;
    if (this.map.size >= this.max && !this.map.has(key)) {
      // Oldest insertion first (Map order): bounded memory even under a flood of valid logins.
      const oldest = this.map.keys().next().value;
      if (oldest !== undefined) this.map.delete(oldest);
    }
    this.map.delete(key);
    this.map.set(key, { identity, expires: now + this.ttl });
  }

  get size(): number { return this.map.size; }
}
