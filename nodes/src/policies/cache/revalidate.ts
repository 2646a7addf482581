/**
 * Revalidation (RFC 9111 §4.3) and background refresh (RFC 5861 stale-while-revalidate),
 * both through the cache's own upstream call (fetch.ts) so the client gets what the cache
 * decides: the stored body after a 304, a stale response when the upstream fails within
 * stale-if-error, or the new response.
 */
import type { HookResult, LocalReply } from '../../request/policy.ts';
import type { RequestContext } from '../../request/context.ts';
import type { Metrics } from '../../telemetry/metrics.ts';
import type { RequestDirectives } from './directives.ts';
import { Entry, assess, mergeNotModified, sameVariant, type Selector } from './entry.ts';
import { fetchUpstream, type Fetched, type FetchResult } from './fetch.ts';
import { sameValidator, validatorHeaders } from './conditional.ts';
import { staleOnErrorAllowed } from './freshness.ts';
import type { FillOwner } from './fill.ts';
import { Pending } from './pending.ts';
import { MISS, REVALIDATED, STALE } from './store.ts';

/** What revalidation needs from its policy. */
export interface Owner extends FillOwner {
  readonly metrics: Metrics;
  count(result: number): void;
  selector(ctx: RequestContext): Selector;
  /** The reply for a stored response (304 when the client's own validator matches). */
  answer(ctx: RequestContext, e: Entry, now: number, xCache: string): LocalReply;
}

/**
 * Validate `e` with the upstream for this request. Other requests for the key wait on it
 * (pending.ts). Resolves to the reply, or undefined to let the forwarder handle the request
 * (the new response is too large to buffer, or a 304 that names another representation).
 */
export async function revalidate(o: Owner, ctx: RequestContext, key: string, e: Entry, rd: RequestDirectives | undefined): Promise<HookResult> {
  const pending = new Pending(o.store.pending, key);
  try {
    ctx.upstreamStart = performance.now();
    const r = await fetchUpstream(ctx, validatorHeaders(e.etag, e.lastModified), o.maxObjectSize, o.metrics);
    ctx.upstreamEnd = performance.now();
    return outcome(o, ctx, key, e, rd, r);
  } finally {
    pending.settle();
  }
}

function outcome(o: Owner, ctx: RequestContext, key: string, e: Entry, rd: RequestDirectives | undefined, r: FetchResult): HookResult {
  const now = Date.now();
  if ('tooLarge' in r) {
    // Changed and now too large to store: drop the outdated copy, forward this request.
    o.store.remove(key, e);
    return miss(o, ctx, undefined);
  }
  if ('error' in r) {
    if (staleOnErrorAllowed(e, now, rd)) { o.count(STALE); return o.answer(ctx, e, now, 'STALE'); }
    return miss(o, ctx, r.error);
  }
  if (r.status === 304) {
    const next = updated(o, ctx, key, e, r);
    if (next === undefined) return miss(o, ctx, undefined);
    o.count(REVALIDATED);
    return next instanceof Entry ? o.answer(ctx, next, now, 'REVALIDATED') : next;
  }
  // §4.2.4 / RFC 5861 §4: a 5xx may be replaced by the stale response within its window.
  if (r.status >= 500 && staleOnErrorAllowed(e, now, rd)) { o.count(STALE); return o.answer(ctx, e, now, 'STALE'); }
  o.store.remove(key, e);
  const stored = storeFetched(o, ctx, key, r);
  o.count(MISS);
  if (stored !== undefined) return o.answer(ctx, stored, now, 'MISS');
  return { status: r.status, headers: { ...r.headers, 'x-cache': 'MISS' }, body: r.body };
}

function miss(o: Owner, ctx: RequestContext, reply: LocalReply | undefined): LocalReply | undefined {
  o.count(MISS);
  ctx.setResponseHeader('x-cache', 'MISS');
  return reply;
}

/**
 * The stored response freshened by a 304 (§4.3.4), stored in place of `e`. undefined when
 * the 304 carries a validator of another representation (`e` is dropped; the request goes
 * upstream); a plain reply when the merged response may no longer be stored (the 304 said
 * no-store or private: this client still gets it, once).
 */
function updated(o: Owner, ctx: RequestContext, key: string, e: Entry, r: Fetched): Entry | LocalReply | undefined {
  if (!sameValidator(e.etag, r.headers.etag)) { o.store.remove(key, e); return undefined; }
  const headers = mergeNotModified(e.headers, r.headers);
  // A 304 without Date must not keep the old one: the age would count from the first fetch.
  if (r.headers.date === undefined) delete headers.date;
  const m = assess({ status: e.status, headers, requestTime: r.requestTime, responseTime: r.responseTime, authorized: ctx.req.headers.authorization !== undefined, credentialed: ctx.req.headers.authorization !== undefined || ctx.req.headers.cookie !== undefined }, o.settings);
  o.store.remove(key, e);
  if (typeof m === 'string') {
    delete headers.age;
    return { status: e.status, headers: { ...headers, 'x-cache': 'REVALIDATED' }, body: e.body };
  }
  const next = new Entry(m, e.body, { partition: e.partition, keyValues: e.keyValues }, ctx.req.headers);
  o.store.put(key, next, sameVariant);
  return next;
}

/** Store a full response from the cache's own call; the new Entry, or undefined when not storable. */
function storeFetched(o: Owner, ctx: RequestContext, key: string, r: Fetched): Entry | undefined {
  const m = assess({ status: r.status, headers: { ...r.headers }, requestTime: r.requestTime, responseTime: r.responseTime, authorized: ctx.req.headers.authorization !== undefined, credentialed: ctx.req.headers.authorization !== undefined || ctx.req.headers.cookie !== undefined }, o.settings);
  if (typeof m === 'string') return undefined;
  const e = new Entry(m, r.body, o.selector(ctx), ctx.req.headers);
  return o.store.put(key, e, sameVariant) ? e : undefined;
}

/**
 * stale-while-revalidate: refresh `e` once in the background while clients get it stale.
 * A failure leaves it as it is (served stale until its window ends); a later request may
 * try again.
 */
export function refreshInBackground(o: Owner, ctx: RequestContext, key: string, e: Entry): void {
  e.refreshing = true;
  const done = (r: FetchResult): void => {
    if ('error' in r || ('status' in r && r.status >= 500)) { e.refreshing = false; return; }
    if ('tooLarge' in r) { o.store.remove(key, e); return; }
    if (r.status === 304) { updated(o, ctx, key, e, r); return; }
    o.store.remove(key, e);
    storeFetched(o, ctx, key, r);
  };
  fetchUpstream(ctx, validatorHeaders(e.etag, e.lastModified), o.maxObjectSize, o.metrics, true)
    .then(done)
    .catch(() => { e.refreshing = false; });
}
