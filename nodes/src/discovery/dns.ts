/**
 * DNS discovery (`discovery: { dns: NAME, port?, scheme? }`): the targets of an upstream are
 * the addresses NAME resolves to, re-resolved within the records' TTL (Envoy's STRICT_DNS,
 * Kong's DNS-based upstreams).
 *
 * - A plain name: every A and AAAA record, on `port` (default 80, or 443 for https).
 * - A name starting with `_` (`_http._tcp.users.internal`): SRV records (RFC 2782). Only the
 *   lowest priority value is used; each record's target host is resolved to A/AAAA and every
 *   address gets the record's weight (0 counts as 1) and port. A host that does not resolve
 *   through DNS is kept by name, so the connection uses the system resolver (/etc/hosts).
 *
 * Refresh: after the smallest TTL seen, clamped to [minTtl, maxTtl] (1 s .. 60 s). Node's
 * resolver does not expose the TTL of SRV records, so SRV names are refreshed at least every
 * `srvRefresh` (30 s). A failed resolution (timeout, SERVFAIL, NXDOMAIN, no records) keeps the
 * last good targets (as Envoy does) and retries with a backoff from retryMin up to retryMax.
 */
import { promises as dns } from 'node:dns';
import { isIPv6 } from 'node:net';
import type { Logger } from 'pino';
import type { TargetSpec } from '../upstream/upstream.ts';

export interface AddressRecord { address: string; ttl: number }
export interface SrvRecord { name: string; port: number; priority: number; weight: number }

/** The part of node:dns's Resolver discovery uses; tests inject a fake. */
export interface DnsResolver {
  resolve4(name: string, o: { ttl: true }): Promise<AddressRecord[]>;
  resolve6(name: string, o: { ttl: true }): Promise<AddressRecord[]>;
  resolveSrv(name: string): Promise<SrvRecord[]>;
}

/** A resolver with short timeouts; `servers` (ip or ip:port, [v6]:port) default to the system's. */
export function createResolver(servers?: readonly string[]): DnsResolver {
  const r = new dns.Resolver({ timeout: 2000, tries: 2 });
  if (servers?.length) r.setServers([...servers]);
  return r as DnsResolver;
}

export interface DnsQuery {
  name: string;
  port?: number | undefined;
  scheme?: 'http' | 'https' | undefined;
}

export interface Resolved {
  /** Sorted by url, no duplicates. */
  targets: TargetSpec[];
  /** Smallest TTL among the records used, in seconds; undefined when none was seen. */
  ttl: number | undefined;
}

const hostOf = (addr: string) => (isIPv6(addr) ? `[${addr}]` : addr);

async function addresses(resolver: DnsResolver, name: string): Promise<AddressRecord[]> {
  const [v4, v6] = await Promise.allSettled([resolver.resolve4(name, { ttl: true }), resolver.resolve6(name, { ttl: true })]);
  const out = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
  if (out.length) return out;
  // Both failed or were empty: report the IPv4 reason (ENODATA for v6 alone is normal).
  if (v4.status === 'rejected') throw v4.reason;
  if (v6.status === 'rejected') throw v6.reason;
  throw Object.assign(new Error(`${name}: no A or AAAA records`), { code: 'ENODATA' });
}

function finish(list: TargetSpec[], ttls: number[]): Resolved {
  const byUrl = new Map<string, TargetSpec>();
  for (const t of list) if (!byUrl.has(t.url)) byUrl.set(t.url, t);
  const targets = [...byUrl.values()].sort((a, b) => (a.url < b.url ? -1 : a.url > b.url ? 1 : 0));
  return { targets, ttl: ttls.length ? Math.min(...ttls) : undefined };
}

/** One resolution of `q` into targets. Rejects when nothing usable came back. */
export async function resolveTargets(resolver: DnsResolver, q: DnsQuery): Promise<Resolved> {
  const scheme = q.scheme ?? 'http';
  if (!q.name.startsWith('_')) {
    const recs = await addresses(resolver, q.name);
    const port = q.port ?? (scheme === 'https' ? 443 : 80);
    return finish(recs.map((r) => ({ url: `${scheme}://${hostOf(r.address)}:${port}`, weight: 1 })), recs.map((r) => r.ttl));
  }
  const srv = await resolver.resolveSrv(q.name);
  if (!srv.length) throw Object.assign(new Error(`${q.name}: no SRV records`), { code: 'ENODATA' });
  const best = Math.min(...srv.map((s) => s.priority));
  const chosen = srv.filter((s) => s.priority === best);
  const ttls: number[] = [];
  const lists = await Promise.all(chosen.map(async (s) => {
    const weight = Math.min(1000, Math.max(1, s.weight));
    try {
      const recs = await addresses(resolver, s.name);
      ttls.push(...recs.map((r) => r.ttl));
      return recs.map((r) => ({ url: `${scheme}://${hostOf(r.address)}:${s.port}`, weight }));
    } catch {
      return [{ url: `${scheme}://${s.name.replace(/\.$/, '')}:${s.port}`, weight }];
    }
  }));
  return finish(lists.flat(), ttls);
}

export interface DnsDiscoveryOptions extends DnsQuery {
  resolver: DnsResolver;
  logger: Logger;
  /** The new list, sorted by url, each time it changes (the first success included). */
  onChange: (targets: TargetSpec[]) => void;
  /** Refresh bounds in ms (defaults 1000 and 60000). */
  minTtl?: number;
  maxTtl?: number;
  /** Upper bound of the refresh interval of SRV names, in ms (default 30000). */
  srvRefresh?: number;
  /** Backoff after failures, ms (defaults 1000 .. 30000, never above maxTtl). */
  retryMin?: number;
  retryMax?: number;
  /** Timer functions (tests drive time with them); default setTimeout / clearTimeout. */
  timers?: { set(fn: () => void, ms: number): unknown; clear(handle: unknown): void };
}

const realTimers = {
  set: (fn: () => void, ms: number): unknown => { const h = setTimeout(fn, ms); h.unref?.(); return h; },
  clear: (h: unknown): void => clearTimeout(h as NodeJS.Timeout),
};

/** Keeps one DNS name resolved; see the file comment for the rules. */
export class DnsDiscovery {
  /** The last good list; undefined until the first successful resolution. */
  targets: TargetSpec[] | undefined;
  /** Resolutions so far, and how many failed (for status and tests). */
  resolutions = 0;
  failures = 0;
  readonly #o: DnsDiscoveryOptions;
  readonly #log: Logger;
  #timer: unknown;
  #stopped = false;
  #started = false;
  #delay: number;
  #sig = '';
  #failing = false;
  #firstDone: () => void = () => undefined;
  readonly #first: Promise<void>;

  constructor(o: DnsDiscoveryOptions) {
    this.#o = o;
    this.#log = o.logger.child({ dns: o.name });
    this.#delay = o.retryMin ?? 1000;
    this.#first = new Promise((r) => { this.#firstDone = r; });
  }

  /** Resolves after the first attempt, whether it succeeded or not. */
  firstAttempt(): Promise<void> { return this.#first; }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    void this.#run();
  }

  stop(): void {
    this.#stopped = true;
    (this.#o.timers ?? realTimers).clear(this.#timer);
    this.#firstDone();
  }

  async #run(): Promise<void> {
    if (this.#stopped) return;
    const minTtl = this.#o.minTtl ?? 1000;
    const maxTtl = this.#o.maxTtl ?? 60_000;
    let next: number;
    this.resolutions++;
    try {
      const res = await resolveTargets(this.#o.resolver, this.#o);
      if (this.#stopped) return;
      if (this.#failing) this.#log.info({ targets: res.targets.length }, 'DNS resolution works again');
      this.#failing = false;
      this.#delay = this.#o.retryMin ?? 1000;
      const sig = JSON.stringify(res.targets);
      if (sig !== this.#sig || !this.targets) {
        this.#sig = sig;
        this.targets = res.targets;
        this.#log.info({ targets: res.targets.map((t) => t.url) }, 'DNS targets changed');
        try { this.#o.onChange(res.targets); } catch (err) { this.#log.error({ err }, 'DNS onChange threw'); }
      }
      let ms = res.ttl === undefined ? maxTtl : res.ttl * 1000;
      if (this.#o.name.startsWith('_')) ms = Math.min(ms, this.#o.srvRefresh ?? 30_000);
      next = Math.min(maxTtl, Math.max(minTtl, ms));
    } catch (err) {
      if (this.#stopped) return;
      this.failures++;
      this.#failing = true;
      const e = err as NodeJS.ErrnoException;
      this.#log.warn({ code: e.code, reason: e.message, keeping: this.targets?.length ?? 0, retryInMs: this.#delay }, 'DNS resolution failed; keeping the last good targets');
      next = Math.min(this.#delay, maxTtl);
      this.#delay = Math.min(this.#delay * 2, this.#o.retryMax ?? 30_000);
    }
    this.#firstDone();
    if (this.#stopped) return;
    this.#timer = (this.#o.timers ?? realTimers).set(() => { void this.#run(); }, next);
  }
}
