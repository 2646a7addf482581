/**
 * The node's cache: one store per gateway process, shared by every route with the `cache`
 * policy and kept across config reloads (it lives in the gateway's `services`, see
 * services.ts). Bounded in bytes with LRU eviction.
 *
 * Layout: a Map from the primary key (host + path + query, key.ts) to a Slot holding that
 * URL's stored variants (RFC 9111 §4.1: Vary, plus the route's own key headers). LRU order
 * is kept per slot in an intrusive doubly linked list, so a hit moves a slot to the front
 * with a few pointer writes and no allocation; eviction drops whole slots from the back.
 *
 * `purgeKey` / `purgePrefix` are the interface a cluster bus calls to apply a purge made
 * on another node (CachePurger); purges made through this node's status API are also told
 * to `onPurge` listeners, so such a bus can broadcast them.
 */
import type { Entry } from './entry.ts';
import type { Pending } from './pending.ts';

export interface CachePurger {
  /** Remove every variant stored under exactly this key. Returns how many were removed. */
  purgeKey(key: string): number;
  /** Remove every entry whose key's path part starts with `prefix` (on `host` only, when given). */
  purgePrefix(prefix: string, host?: string): number;
}

/** The prefix of the keys of requests that came in over HTTPS (key.ts). */
export const HTTPS = 'https://';

export interface PurgeRequest { key?: string; prefix?: string; host?: string }

/** Results counted per route, in the order of this list (gatehouse_cache_requests_total). */
export const RESULTS = ['hit', 'miss', 'stale', 'bypass', 'revalidated'] as const;
export const HIT = 0;
export const MISS = 1;
export const STALE = 2;
export const BYPASS = 3;
export const REVALIDATED = 4;

/** A URL with many variants (Vary: User-Agent) keeps only the newest few. */
export const MAX_VARIANTS = 32;
/**
 * Estimated bytes of a slot besides its entries: the Slot object, its Map entry and variants
 * array (measured with the entry overheads, entry.ts). Its key is counted at one byte a character.
 */
export const SLOT_OVERHEAD = 256;
export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

export class Slot {
  readonly key: string;
  readonly variants: Entry[] = [];
  bytes = 0;
  newer: Slot | undefined = undefined;
  older: Slot | undefined = undefined;
  constructor(key: string) { this.key = key; }
}

export class CacheStore implements CachePurger {
  bytes = 0;
  entries = 0;
  evictions = 0;
  /** In-flight fills and revalidations by key (pending.ts). */
  readonly pending = new Map<string, Pending>();
  /** Per route: counts by RESULTS index; kept across reloads, read at scrape time. */
  readonly stats = new Map<string, Float64Array>();
  /** Told about purges made through this node's status API (for a cluster bus to broadcast). */
  readonly onPurge = new Set<(p: PurgeRequest) => void>();
  private readonly slots = new Map<string, Slot>();
  private newest: Slot | undefined = undefined;
  private oldest: Slot | undefined = undefined;
  private readonly limits = new Map<object, number>();
  private limitBytes: number;

  constructor(maxBytes = DEFAULT_MAX_BYTES) { this.limitBytes = maxBytes; }

  get limit(): number { return this.limitBytes; }

  /**
   * The bound is the largest `maxBytes` of the policies using the cache. Each policy
   * instance registers its own and releases it on close, so a smaller setting takes effect
   * once the snapshot that had the larger one is retired.
   */
  setLimit(owner: object, bytes: number): void {
    this.limits.set(owner, bytes);
    this.applyLimits();
  }

  releaseLimit(owner: object): void {
    if (this.limits.delete(owner)) this.applyLimits();
  }

  statsFor(route: string): Float64Array {
    let s = this.stats.get(route);
    if (s === undefined) { s = new Float64Array(RESULTS.length); this.stats.set(route, s); }
    return s;
  }

  get(key: string): Slot | undefined { return this.slots.get(key); }

  /** Mark as most recently used. */
  touch(s: Slot): void {
    if (this.newest === s) return;
    this.unlink(s);
    this.linkNewest(s);
  }

  /**
   * Store `e` under `key`, replacing the variant it supersedes (same selector). False when
   * it can never fit. Evicts least recently used slots until the bound holds again.
   */
  put(key: string, e: Entry, same: (a: Entry, b: Entry) => boolean): boolean {
    if (e.size + SLOT_OVERHEAD + key.length > this.limitBytes) return false;
    let s = this.slots.get(key);
    if (s === undefined) {
      s = new Slot(key);
      this.slots.set(key, s);
      this.linkNewest(s);
      s.bytes = SLOT_OVERHEAD + key.length;
      this.bytes += s.bytes;
    } else {
      this.touch(s);
      const v = s.variants;
      for (let i = v.length - 1; i >= 0; i--) if (same(v[i]!, e)) this.drop(s, i);
      if (v.length >= MAX_VARIANTS) { this.drop(s, 0); this.evictions++; }
    }
    s.variants.push(e);
    s.bytes += e.size;
    this.bytes += e.size;
    this.entries++;
    this.shrink();
    return true;
  }

  /** Replace `old` by `next` in place when it is still stored (after a 304), else store `next`. */
  replace(key: string, old: Entry, next: Entry, same: (a: Entry, b: Entry) => boolean): boolean {
    this.remove(key, old);
    return this.put(key, next, same);
  }

  /** Remove one stored variant (stale and useless, or superseded). */
  remove(key: string, e: Entry): void {
    const s = this.slots.get(key);
    if (s === undefined) return;
    const i = s.variants.indexOf(e);
    if (i < 0) return;
    this.drop(s, i);
    if (s.variants.length === 0) this.deleteSlot(s);
  }

  purgeKey(key: string): number {
    // A key names a URL on either scheme: `host/path` also removes what HTTPS requests stored
    // under `https://host/path` (key.ts).
    return this.#purgeOne(key) + (key.startsWith(HTTPS) ? 0 : this.#purgeOne(HTTPS + key));
  }

  #purgeOne(key: string): number {
    const s = this.slots.get(key);
    if (s === undefined) return 0;
    const n = s.variants.length;
    this.deleteSlot(s);
    return n;
  }

  purgePrefix(prefix: string, host?: string): number {
    let n = 0;
    for (const s of [...this.slots.values()]) {
      const k = s.key.startsWith(HTTPS) ? s.key.slice(HTTPS.length) : s.key;
      const slash = k.indexOf('/');
      if (slash < 0) continue;
      // `host` matches that name on any port, `host:port` that port only.
      if (host !== undefined && !(k.startsWith(host) && (slash === host.length || (k.charCodeAt(host.length) === 58 && !host.includes(':'))))) continue;
      if (!k.startsWith(prefix, slash)) continue;
      n += s.variants.length;
      this.deleteSlot(s);
    }
    return n;
  }

  /** Remove everything (tests, and a purge with prefix "/"). */
  clear(): number {
    const n = this.entries;
    this.slots.clear();
    this.newest = this.oldest = undefined;
    this.bytes = 0;
    this.entries = 0;
    return n;
  }

  private applyLimits(): void {
    let max = 0;
    for (const b of this.limits.values()) if (b > max) max = b;
    this.limitBytes = max > 0 ? max : DEFAULT_MAX_BYTES;
    this.shrink();
  }

  private shrink(): void {
    while (this.bytes > this.limitBytes && this.oldest !== undefined) {
      const s = this.oldest;
      this.evictions += s.variants.length;
      this.deleteSlot(s);
    }
  }

  private drop(s: Slot, i: number): void {
    const e = s.variants[i]!;
    s.variants.splice(i, 1);
    s.bytes -= e.size;
    this.bytes -= e.size;
    this.entries--;
  }

  private deleteSlot(s: Slot): void {
    if (this.slots.get(s.key) !== s) return;
    this.slots.delete(s.key);
    this.unlink(s);
    this.bytes -= s.bytes;
    this.entries -= s.variants.length;
  }

  private linkNewest(s: Slot): void {
    s.older = this.newest;
    s.newer = undefined;
    if (this.newest !== undefined) this.newest.newer = s;
    this.newest = s;
    if (this.oldest === undefined) this.oldest = s;
  }

  private unlink(s: Slot): void {
    if (s.newer !== undefined) s.newer.older = s.older; else if (this.newest === s) this.newest = s.older;
    if (s.older !== undefined) s.older.newer = s.newer; else if (this.oldest === s) this.oldest = s.newer;
    s.newer = s.older = undefined;
  }
}
