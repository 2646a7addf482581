/**
 * Keeps every upstream with `discovery` fed with targets: one feed per distinct discovery
 * setting (a registry watcher for `{service}`, a DNS resolver for `{dns}`), whose list goes to
 * UpstreamRuntime.setTargets of each upstream that uses it.
 *
 * Config reloads may hand an upstream a new runtime object (its config changed, or the
 * snapshot came from disk), so `sync()` runs after every apply: it starts and stops feeds as
 * the config asks and re-applies the current list to runtimes it has not fed yet. The swap and
 * the re-apply run in one tick, so no request sees the new runtime without its targets.
 * Until a feed has its first answer, a new runtime keeps what the one before it served (the
 * targets saved in the snapshot file, or discovered before the reload).
 */
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import type { Upstream } from '../schema/model.ts';
import type { TargetSpec, UpstreamRuntime } from '../upstream/upstream.ts';
import { RegistryWatcher } from './registry.ts';
import { DnsDiscovery, createResolver, type DnsResolver } from './dns.ts';

type DiscoveryConfig = NonNullable<Upstream['discovery']>;

/** A source of targets for one discovery setting. */
export interface Feed {
  /** The current list; undefined until the first answer. */
  readonly targets: readonly TargetSpec[] | undefined;
  start(): void;
  /** Resolves after the first answer or failed attempt (never rejects). */
  firstAttempt(): Promise<void>;
  stop(): Promise<void> | void;
  /** A line for /cluster status. */
  describe(): Record<string, unknown>;
}

export interface DiscoveryOptions {
  logger: Logger;
  /** The runtimes in force now: the current snapshot's upstreams. */
  upstreams: () => ReadonlyMap<string, UpstreamRuntime> | undefined;
  /** Registry discovery (cluster mode only). */
  registry?: { client: Etcd3; prefix: string } | undefined;
  /** DNS resolver (default: node:dns with `dnsServers` or the system's servers). */
  resolver?: DnsResolver;
  dnsServers?: readonly string[] | undefined;
  /** Called after discovered targets changed (e.g. to save the snapshot). */
  onChange?: () => void;
  /** Replace feed creation (tests). */
  createFeed?: (d: DiscoveryConfig, onChange: () => void) => Feed;
}

interface FeedEntry { feed: Feed; version: number; names: Set<string> }
interface Applied { runtime: UpstreamRuntime; sig: string; version: number }

export const discoveryKey = (d: DiscoveryConfig): string => JSON.stringify('service' in d ? { service: d.service } : { dns: d.dns, port: d.port, scheme: d.scheme });

export class Discovery {
  readonly #o: DiscoveryOptions;
  readonly #log: Logger;
  readonly #feeds = new Map<string, FeedEntry>();
  readonly #applied = new Map<string, Applied>();
  #resolver: DnsResolver | undefined;
  #stopped = false;

  constructor(o: DiscoveryOptions) {
    this.#o = o;
    this.#log = o.logger.child({ component: 'discovery' });
  }

  /** After every config apply: start/stop feeds, and give new runtimes their targets. */
  sync(): void {
    if (this.#stopped) return;
    const ups = this.#o.upstreams();
    if (!ups) return;
    const wanted = new Map<string, { d: DiscoveryConfig; names: Set<string> }>();
    for (const [name, rt] of ups) {
      const d = rt.config.discovery;
      if (!d) continue;
      const sig = discoveryKey(d);
      const w = wanted.get(sig) ?? { d, names: new Set<string>() };
      w.names.add(name);
      wanted.set(sig, w);
    }
    for (const [sig, e] of this.#feeds) {
      if (wanted.has(sig)) continue;
      this.#feeds.delete(sig);
      void Promise.resolve(e.feed.stop()).catch((err: Error) => this.#log.warn({ err: err.message }, 'stopping a discovery feed failed'));
    }
    for (const [sig, w] of wanted) {
      let e = this.#feeds.get(sig);
      if (!e) {
        const entry: FeedEntry = { feed: undefined as unknown as Feed, version: 0, names: w.names };
        entry.feed = (this.#o.createFeed ?? ((d, cb) => this.#createFeed(d, cb)))(w.d, () => this.#onFeed(sig, entry));
        this.#feeds.set(sig, entry);
        entry.feed.start();
        e = entry;
      }
      e.names = w.names;
      for (const name of w.names) this.#apply(name, ups.get(name)!, sig, e);
    }
    for (const name of this.#applied.keys()) if (!ups.get(name)?.config.discovery) this.#applied.delete(name);
  }

  /** Resolves when every feed has had a first attempt, or after `ms`. */
  async settled(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([...this.#feeds.values()].map((e) => e.feed.firstAttempt())),
      new Promise<void>((r) => { timer = setTimeout(r, ms); }),
    ]);
    clearTimeout(timer);
  }

  /** What each feed knows, for the status page. */
  describe(): Array<Record<string, unknown>> {
    return [...this.#feeds.values()].map((e) => ({ upstreams: [...e.names], ...e.feed.describe(), targets: e.feed.targets ?? null }));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    const all = [...this.#feeds.values()];
    this.#feeds.clear();
    await Promise.all(all.map((e) => Promise.resolve(e.feed.stop()).catch(() => undefined)));
  }

  #onFeed(sig: string, entry: FeedEntry): void {
    if (this.#stopped || this.#feeds.get(sig) !== entry) return;
    entry.version++;
    const ups = this.#o.upstreams();
    for (const name of entry.names) {
      const rt = ups?.get(name);
      if (rt?.config.discovery && discoveryKey(rt.config.discovery) === sig) this.#apply(name, rt, sig, entry);
    }
    try { this.#o.onChange?.(); } catch (err) { this.#log.error({ err }, 'discovery onChange threw'); }
  }

  #apply(name: string, rt: UpstreamRuntime, sig: string, e: FeedEntry): void {
    const prev = this.#applied.get(name);
    const targets = e.feed.targets;
    if (targets) {
      if (prev?.runtime === rt && prev.version === e.version) return;
      rt.setTargets(targets);
      this.#applied.set(name, { runtime: rt, sig, version: e.version });
      return;
    }
    if (prev && prev.runtime !== rt && prev.sig === sig && rt.targets.length === 0 && prev.runtime.targets.length > 0) {
      // No answer yet: keep serving what the replaced runtime had.
      rt.setTargets(prev.runtime.targets.map((t) => ({ url: t.url, weight: t.weight })));
    }
    if (!prev || prev.runtime !== rt) this.#applied.set(name, { runtime: rt, sig, version: -1 });
  }

  #createFeed(d: DiscoveryConfig, onChange: () => void): Feed {
    if ('service' in d) return this.#registryFeed(d.service, onChange);
    this.#resolver ??= this.#o.resolver ?? createResolver(this.#o.dnsServers);
    const dd = new DnsDiscovery({ name: d.dns, port: d.port, scheme: d.scheme, resolver: this.#resolver, logger: this.#log, onChange });
    return {
      get targets() { return dd.targets; },
      start: () => dd.start(),
      firstAttempt: () => dd.firstAttempt(),
      stop: () => dd.stop(),
      describe: () => ({ dns: d.dns, resolutions: dd.resolutions, failures: dd.failures }),
    };
  }

  #registryFeed(service: string, onChange: () => void): Feed {
    const reg = this.#o.registry;
    let targets: TargetSpec[] | undefined;
    let first: () => void = () => undefined;
    const firstP = new Promise<void>((r) => { first = r; });
    if (!reg) {
      // validateConfig refuses this standalone; a feed that never answers keeps the static targets.
      this.#log.error({ service }, 'registry discovery needs cluster mode; upstream keeps its static targets');
      first();
      return { targets: undefined, start: () => undefined, firstAttempt: () => firstP, stop: () => undefined, describe: () => ({ service, error: 'no etcd' }) };
    }
    const w = new RegistryWatcher({
      client: reg.client, prefix: reg.prefix, service, logger: this.#log,
      onChange: (list) => {
        targets = list.map((i) => ({ url: i.url, weight: i.weight }));
        first();
        onChange();
      },
    });
    return {
      get targets() { return targets; },
      start: () => {
        w.start().catch((err: Error) => { this.#log.warn({ service, err: err.message }, 'registry not loaded yet; still trying'); first(); });
      },
      firstAttempt: () => firstP,
      stop: () => w.stop(),
      describe: () => ({ service, instances: w.instances.length }),
    };
  }
}
