/**
 * Filling the cache from a response the forwarder streams to the client (ctx.tap). The
 * head is taken in the policy's response hook, which runs before every other policy's
 * (the cache is the innermost policy), so the stored head is the upstream's: headers other
 * policies set for this one request (ctx.responseHeaders: RateLimit, X-Cache) are left out.
 * The body is collected as it streams, up to maxObjectSize; past that, or when the response
 * is not storable, collecting stops and the requests waiting on this key are let go.
 */
import type { RequestContext } from '../../request/context.ts';
import type { ResponseHead, ResponseTap } from '../../request/policy.ts';
import { Entry, assess, sameVariant, type EntrySettings, type Meta, type Selector } from './entry.ts';
import { Pending } from './pending.ts';
import type { CacheStore } from './store.ts';
import type { Headers } from './freshness.ts';

/** What a fill needs from its policy. */
export interface FillOwner {
  readonly store: CacheStore;
  readonly settings: EntrySettings;
  readonly maxObjectSize: number;
}

const WAITING = 0;
const COLLECTING = 1;
const DONE = 2;

export class Fill extends Pending implements ResponseTap {
  private readonly owner: FillOwner;
  private readonly sel: Selector;
  private readonly reqHeaders: NodeJS.Dict<string | string[]>;
  private readonly authorized: boolean;
  private readonly requestTime = Date.now();
  private state = WAITING;
  private meta: Meta | undefined = undefined;
  private chunks: Buffer[] = [];
  private size = 0;
  /** Content-Length the upstream announced; -1 when none (chunked). */
  private expected = -1;

  constructor(owner: FillOwner, key: string, sel: Selector, ctx: RequestContext) {
    super(owner.store.pending, key);
    this.owner = owner;
    this.sel = sel;
    this.reqHeaders = ctx.req.headers;
    this.authorized = ctx.req.headers.authorization !== undefined;
  }

  /** From the policy's response hook: decide from the upstream's head whether to collect. */
  onHead(ctx: RequestContext, head: ResponseHead): void {
    if (this.state !== WAITING) return;
    // The gateway's own replies are never stored; a translated one is the upstream's answer
    // (a transcoded gRPC success). It has no upstream to revalidate with: see noRevalidation().
    if (head.local && head.translated !== true) return this.stop();
    const own = ctx.responseHeaders;
    const h: Headers = {};
    for (const k in head.headers) if (own === undefined || !(k in own)) h[k] = head.headers[k]!;
    const cl = h['content-length'];
    if (typeof cl === 'string') {
      this.expected = Number(cl);
      if (this.expected > this.owner.maxObjectSize) return this.stop();
    }
    const m = assess({ status: head.status, headers: h, requestTime: this.requestTime, responseTime: Date.now(), authorized: this.authorized, credentialed: this.authorized || this.reqHeaders.cookie !== undefined }, this.owner.settings);
    if (typeof m === 'string') return this.stop();
    this.meta = head.local ? noRevalidation(m) : m;
    this.state = COLLECTING;
  }

  head(): void { /* taken in onHead, before other policies edit it */ }

  data(chunk: Buffer): void {
    if (this.state !== COLLECTING) return;
    this.size += chunk.length;
    if (this.size > this.owner.maxObjectSize) return this.stop();
    this.chunks.push(chunk);
  }

  end(): void {
    if (this.state !== COLLECTING) return this.stop();
    const m = this.meta!;
    const body = Buffer.concat(this.chunks, this.size);
    // A body shorter than announced is a truncated response: never store it.
    if (this.expected >= 0 && this.expected !== body.length) return this.stop();
    this.owner.store.put(this.key, new Entry(m, body, this.sel, this.reqHeaders), sameVariant);
    this.stop();
  }

  abort(): void { this.stop(); }

  private stop(): void {
    this.state = DONE;
    this.chunks = [];
    this.meta = undefined;
    this.settle();
  }
}

/**
 * A translated reply (grpc-transcode) has no HTTP upstream the cache could send a
 * conditional or background request to: it is fresh for its lifetime, then a plain miss
 * (no validators, no stale-while-revalidate or stale-if-error, never served stale).
 */
function noRevalidation(m: Meta): Meta {
  return { ...m, etag: undefined, lastModified: undefined, swr: -1, sie: -1, noStale: true };
}
