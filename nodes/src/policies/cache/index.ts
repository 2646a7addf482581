/**
 * cache (phase upstream, runs last): an RFC 9111 shared cache in memory
 * (docs/policies/cache.md). The innermost policy: a stored response is served after
 * authentication, authorization and rate limits; its response hook runs first, so it stores
 * the upstream's head before other policies edit it.
 *
 * Per request: one key string (key.ts), one Map lookup, the variant check, two numbers
 * compared (entry.ts precomputed freshness and the age base when the response was stored);
 * the reply object of a hit is reused within the same second. Cache-Control is parsed only
 * when the request carries it. Misses fill the store from the forwarded response
 * (fill.ts); concurrent misses of a key wait for that one fill (pending.ts); stale entries
 * are revalidated through the cache's own upstream call (revalidate.ts).
 */
import type { HookResult, LocalReply, PolicyDefinition, PolicyDeps, PolicyHandlers, ResponseHead } from '../../request/policy.ts';
import type { RequestContext } from '../../request/context.ts';
import type { Metrics } from '../../telemetry/metrics.ts';
import { parseDuration, parseSize } from '../../schema/duration.ts';
import type { Config } from './schema.ts';
import { spec } from './spec.ts';
import { compileKey, type CompiledKey } from './key.ts';
import { parseRequestDirectives, type RequestDirectives } from './directives.ts';
import { decide, FRESH, STALE_OK, STALE_REFRESH, staleOnErrorAllowed } from './freshness.ts';
import { forwardedValue, type Entry, type EntrySettings, type Selector } from './entry.ts';
import { clientHasCurrent } from './conditional.ts';
import { Fill } from './fill.ts';
import { revalidate, refreshInBackground, type Owner } from './revalidate.ts';
import { BYPASS, HIT, MISS, STALE, type CacheStore, type Slot } from './store.ts';
import { cacheStore } from './services.ts';

export { CacheStore, type CachePurger, type PurgeRequest } from './store.ts';
export { cacheStore } from './services.ts';

/**
 * RFC 9213: this is the cache in front of the origin that CDN-Cache-Control addresses (a
 * reverse proxy like a CDN's edge), so it obeys that field by default; `targeted: []` turns it off.
 */
const DEFAULT_TARGETED = ['CDN-Cache-Control'];

/** RFC 9111 §5.2.1.7: only-if-cached and nothing suitable stored. */
const NOT_CACHED: LocalReply = Object.freeze({ code: 'GW_NOT_CACHED' });

class CachePolicy implements PolicyHandlers, Owner {
  readonly store: CacheStore;
  readonly settings: EntrySettings;
  readonly maxObjectSize: number;
  readonly metrics: Metrics;
  private readonly route: string;
  private readonly partition: string;
  private readonly k: CompiledKey;
  private readonly get: boolean;
  private readonly head: boolean;
  private readonly allowAuthorized: boolean;
  private readonly lockMs: number;
  private readonly stats: Float64Array;

  constructor(c: Config, deps: PolicyDeps) {
    this.store = cacheStore(deps);
    this.route = deps.routeName;
    this.k = compileKey(c.key);
    this.partition = `${deps.routeName}\n${this.k.signature}`;
    this.settings = Object.freeze({
      heuristicMs: parseDuration(c.ttl ?? '30s'),
      storeSetCookie: c.storeSetCookie === true,
      heuristicCredentialed: c.heuristicCredentialed === true,
      targeted: Object.freeze((c.targeted ?? DEFAULT_TARGETED).map((n) => n.toLowerCase())),
    });
    this.maxObjectSize = parseSize(c.maxObjectSize ?? '1mb');
    const maxBytes = parseSize(c.maxBytes ?? '64mb');
    const methods = c.methods ?? ['GET', 'HEAD'];
    this.get = methods.includes('GET');
    this.head = methods.includes('HEAD');
    this.allowAuthorized = c.allowAuthorized === true;
    this.lockMs = parseDuration(c.lockTimeout ?? '5s');
    this.metrics = deps.metrics;
    this.stats = this.store.statsFor(this.route);
    this.store.setLimit(this, maxBytes);
  }

  request(ctx: RequestContext): HookResult | Promise<HookResult> {
    const m = ctx.method;
    if (m === 'GET' ? !this.get : m === 'HEAD' ? !this.head : true) {
      return m === 'GET' || m === 'HEAD' ? this.bypass(ctx) : undefined; // other methods: see response()
    }
    const h = ctx.req.headers;
    // A GET/HEAD with a body: the body may change the answer (an upstream that reads it), and
    // the key does not hold it. Neither served from nor stored in the cache (cache deception).
    if ((h['content-length'] !== undefined && h['content-length'] !== '0') || h['transfer-encoding'] !== undefined) return this.bypass(ctx);
    // Range (206) is not implemented; If-Match / If-Unmodified-Since are the origin's to judge.
    if (h.range !== undefined || h['if-match'] !== undefined || h['if-unmodified-since'] !== undefined) return this.bypass(ctx);
    // RFC 9111 §3.5: Authorization keeps a request out of a shared cache unless the route opts in.
    if (h.authorization !== undefined && !this.allowAuthorized) return this.bypass(ctx);
    let rd: RequestDirectives | undefined;
    if (h['cache-control'] !== undefined || h.pragma !== undefined) {
      rd = parseRequestDirectives(h['cache-control'], h.pragma);
      if (rd?.noStore) return this.bypass(ctx);
    }
    return this.lookup(ctx, this.k.key(ctx), rd, true);
  }

  /** After a wait for a fill, `mayWait` is false: the second look-up goes upstream itself. */
  private lookup(ctx: RequestContext, key: string, rd: RequestDirectives | undefined, mayWait: boolean): HookResult | Promise<HookResult> {
    const slot = this.store.get(key);
    const e = slot === undefined ? undefined : this.select(slot, ctx);
    if (e !== undefined) {
      const now = Date.now();
      if (rd === undefined && now < e.freshUntil) {
        this.store.touch(slot!);
        this.stats[HIT]!++;
        return this.answer(ctx, e, now, 'HIT');
      }
      return this.stored(ctx, key, slot!, e, now, rd, mayWait);
    }
    if (rd?.onlyIfCached) return NOT_CACHED;
    return this.miss(ctx, key, rd, mayWait);
  }

  /** A stored response that is not plainly fresh for this request (RFC 9111 §4.2, §4.3). */
  private stored(ctx: RequestContext, key: string, slot: Slot, e: Entry, now: number, rd: RequestDirectives | undefined, mayWait: boolean): HookResult | Promise<HookResult> {
    const d = decide(e, now, rd);
    if (d === FRESH) { this.store.touch(slot); this.stats[HIT]!++; return this.answer(ctx, e, now, 'HIT'); }
    if (d === STALE_OK || d === STALE_REFRESH) {
      this.store.touch(slot);
      this.stats[STALE]!++;
      if (d === STALE_REFRESH && !e.refreshing) refreshInBackground(this, ctx, key, e);
      return this.answer(ctx, e, now, 'STALE');
    }
    if (rd?.onlyIfCached) return NOT_CACHED; // §5.2.1.7: would need the upstream
    const p = this.store.pending.get(key);
    if (p !== undefined && mayWait) return p.wait(this.lockMs).then(() => this.lookup(ctx, key, rd, false));
    // Nothing to validate with and no stale-if-error to fall back on: it is only a miss.
    if (!e.hasValidator && !staleOnErrorAllowed(e, now, rd)) {
      this.store.remove(key, e);
      return this.miss(ctx, key, rd, false);
    }
    return revalidate(this, ctx, key, e, rd);
  }

  private miss(ctx: RequestContext, key: string, rd: RequestDirectives | undefined, mayWait: boolean): HookResult | Promise<HookResult> {
    const p = this.store.pending.get(key);
    if (p !== undefined && mayWait) return p.wait(this.lockMs).then(() => this.lookup(ctx, key, rd, false));
    this.stats[MISS]!++;
    ctx.setResponseHeader('x-cache', 'MISS');
    // A HEAD has no body to store; with a fill already running, this one just goes upstream.
    if (ctx.method !== 'GET' || p !== undefined) return undefined;
    ctx.tap = new Fill(this, key, this.selector(ctx), ctx);
    // The fill needs the full response: the client's validators could turn it into a 304
    // (RFC 9111 §4.3.1 lets a cache send its own request instead of the client's).
    const h = ctx.req.headers;
    if (h['if-none-match'] !== undefined) ctx.dropUpstreamHeader('if-none-match');
    if (h['if-modified-since'] !== undefined) ctx.dropUpstreamHeader('if-modified-since');
    return undefined;
  }

  private bypass(ctx: RequestContext): undefined {
    this.stats[BYPASS]!++;
    ctx.setResponseHeader('x-cache', 'BYPASS');
    return undefined;
  }

  /** The newest stored variant this request selects (RFC 9111 §4.1), if any. */
  private select(slot: Slot, ctx: RequestContext): Entry | undefined {
    const v = slot.variants;
    const h = ctx.req.headers;
    const authorized = h.authorization !== undefined;
    let kv: string[] | undefined;
    outer: for (let i = v.length - 1; i >= 0; i--) {
      const e = v[i]!;
      if (e.partition !== this.partition || (authorized && !e.authOk)) continue;
      if (e.keyValues !== undefined) {
        kv ??= this.k.values(ctx);
        for (let j = 0; j < e.keyValues.length; j++) if (e.keyValues[j] !== kv![j]) continue outer;
      }
      const names = e.varyNames;
      for (let j = 0; j < names.length; j++) if (forwardedValue(h, names[j]!) !== e.varyValues[j]) continue outer;
      return e;
    }
    return undefined;
  }

  answer(ctx: RequestContext, e: Entry, now: number, xCache: string): LocalReply {
    ctx.cacheResult = xCache;
    // A per-request header, as on a miss: it takes the same place in the head (pipeline/response-head.ts).
    ctx.setResponseHeader('x-cache', xCache);
    const h = ctx.req.headers;
    if ((h['if-none-match'] !== undefined || h['if-modified-since'] !== undefined) && clientHasCurrent(h, e.etag, e.modifiedMs)) return e.notModified(now, xCache);
    return xCache === 'HIT' ? e.hitReply(now) : e.reply(now, xCache);
  }

  selector(ctx: RequestContext): Selector {
    return { partition: this.partition, keyValues: this.k.values(ctx) };
  }

  count(result: number): void { this.stats[result]!++; }

  response(ctx: RequestContext, head: ResponseHead): void {
    const t = ctx.tap;
    if (t !== undefined) { if (t instanceof Fill) t.onHead(ctx, head); return; }
    // RFC 9111 §4.4: a non-error response to an unsafe request invalidates the stored URL.
    // A transcoded call's success (head.translated) is the upstream's answer: it invalidates too.
    if ((head.local && head.translated !== true) || head.status >= 400) return;
    const m = ctx.method;
    if (m === 'GET' || m === 'HEAD' || m === 'OPTIONS' || m === 'TRACE') return;
    this.store.purgeKey(this.k.key(ctx));
  }

  /** Every request ends here: a fill the forwarder never reached (no target, client gone) is let go. */
  log(ctx: RequestContext): void {
    const t = ctx.tap;
    if (t instanceof Fill) t.abort();
  }

  close(): void { this.store.releaseLimit(this); }
}

export const cache: PolicyDefinition<Config> = {
  ...spec,
  create(config, deps) {
    return new CachePolicy(config, deps);
  },
};
