/**
 * Service discovery through etcd (contract: `<prefix>/registry/<service>/<instance-id>` =
 * {url, weight, metadata} under a lease). A service instance registers itself and keeps its
 * lease alive; when it dies the lease expires, etcd deletes the key, and every node's watcher
 * drops the instance. Upstreams with `discovery: { service }` take their targets from here.
 */
import type { Etcd3 } from 'etcd3';
import pino, { type Logger } from 'pino';
import { createEtcdClient, PrefixWatch, type KeyValue, type Change } from '../cluster/etcd-client.ts';
import { LeasedKey } from '../cluster/leased-key.ts';

export interface Instance {
  id: string;
  url: string;
  weight: number;
  metadata?: Record<string, string>;
}

const serviceRoot = (prefix: string, service: string) => `${prefix.replace(/\/+$/, '')}/registry/${service}/`;

function checkSegment(what: string, v: string): void {
  if (!v || v.includes('/')) throw new TypeError(`${what} must be non-empty without "/": ${JSON.stringify(v)}`);
}

/** The reason `value` is not a usable instance, or undefined. Mirrors the upstream Target rules. */
function instanceProblem(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not a JSON object';
  const { url, weight, metadata } = v as Record<string, unknown>;
  if (typeof url !== 'string' || !/^https?:\/\/[^/?#]+\/?$/.test(url)) return 'url must be http(s)://host:port with no path';
  if (weight !== undefined && !(Number.isInteger(weight) && (weight as number) >= 0 && (weight as number) <= 1000)) return 'weight must be an integer 0..1000';
  if (metadata !== undefined && (typeof metadata !== 'object' || metadata === null || Object.values(metadata).some((m) => typeof m !== 'string'))) {
    return 'metadata must map names to strings';
  }
  return undefined;
}

export interface RegisterOptions {
  endpoints: string[];
  /** Key prefix without trailing slash, e.g. `/gatehouse`. */
  prefix: string;
  service: string;
  id: string;
  /** http(s)://host:port, no path. */
  url: string;
  weight?: number;
  metadata?: Record<string, string>;
  /** Lease TTL in seconds (default 10): how long a dead instance stays listed. */
  ttl?: number;
  /** Share a client; otherwise the registration owns one and closes it on stop(). */
  client?: Etcd3;
  logger?: Logger;
  /** Reject (and clean up) if the first write has not happened within this many ms (default 10000). */
  timeout?: number;
}

export interface Registration {
  readonly key: string;
  /** Revokes the lease: the instance disappears from every watcher at once. */
  stop(): Promise<void>;
}

/** Registers one instance; resolves once its key is written, keeping it alive until stop(). */
export async function registerInstance(o: RegisterOptions): Promise<Registration> {
  checkSegment('service', o.service);
  checkSegment('instance id', o.id);
  const value = { url: o.url, weight: o.weight ?? 1, ...(o.metadata ? { metadata: o.metadata } : {}) };
  const problem = instanceProblem(value);
  if (problem) throw new TypeError(`instance ${o.id}: ${problem}`);
  const key = serviceRoot(o.prefix, o.service) + o.id;
  const client = o.client ?? createEtcdClient(o.endpoints);
  const logger = o.logger ?? pino({ level: 'silent' });
  const keeper = new LeasedKey({ client, key, ttl: o.ttl ?? 10, logger, value: () => JSON.stringify(value) });
  const stop = async () => {
    await keeper.stop(true);
    if (!o.client) client.close();
  };
  const ms = o.timeout ?? 10_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([keeper.start(), new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`could not register ${key} in etcd within ${ms} ms`)), ms);
    })]);
  } catch (err) {
    await stop();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return { key, stop };
}

export interface RegistryWatcherOptions {
  /** Used when no `client` is given; the watcher then owns and closes its client. */
  endpoints?: string[];
  client?: Etcd3;
  prefix: string;
  service: string;
  logger: Logger;
  /** The full current list (sorted by id) after the first load and after every change to it. */
  onChange: (instances: Instance[]) => void;
  /** start() rejects after this many ms without etcd (default 5000), but keeps trying. */
  startTimeout?: number;
  retryMin?: number;
  retryMax?: number;
}

/** Keeps the instance list of one service, loaded then watched (no change lost between the two). */
export class RegistryWatcher {
  readonly #o: RegistryWatcherOptions;
  readonly #root: string;
  readonly #client: Etcd3;
  readonly #log: Logger;
  readonly #watch: PrefixWatch;
  #byKey = new Map<string, Instance>();
  #last: string | undefined;
  #list: Instance[] = [];
  #loaded: (() => void) | undefined;

  constructor(o: RegistryWatcherOptions) {
    checkSegment('service', o.service);
    if (!o.client && !o.endpoints?.length) throw new TypeError('RegistryWatcher needs endpoints or a client');
    this.#o = o;
    this.#root = serviceRoot(o.prefix, o.service);
    this.#client = o.client ?? createEtcdClient(o.endpoints ?? []);
    this.#log = o.logger.child({ registry: o.service });
    this.#watch = new PrefixWatch(this.#client, this.#root, {
      onSnapshot: (kvs) => this.#onSnapshot(kvs),
      onChanges: (changes) => this.#onChanges(changes),
    }, { logger: this.#log, retryMin: o.retryMin, retryMax: o.retryMax });
  }

  /** The current instances, sorted by id. */
  get instances(): Instance[] { return this.#list; }

  /** Resolves after the first load reached onChange; rejects after startTimeout but keeps trying. */
  start(): Promise<void> {
    const ms = this.#o.startTimeout ?? 5000;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#loaded = undefined;
        reject(new Error(`registry for ${this.#o.service}: etcd did not answer within ${ms} ms; still retrying`));
      }, ms);
      this.#loaded = () => { clearTimeout(timer); this.#loaded = undefined; resolve(); };
      this.#watch.start();
    });
  }

  async stop(): Promise<void> {
    await this.#watch.stop();
    if (!this.#o.client) this.#client.close();
  }

  #parse(kv: KeyValue): Instance | undefined {
    const id = kv.key.slice(this.#root.length);
    if (!id || id.includes('/')) return undefined;
    let v: unknown;
    try { v = JSON.parse(kv.value); } catch { v = undefined; }
    const problem = instanceProblem(v);
    if (problem) {
      this.#log.warn({ key: kv.key, reason: problem }, 'skipping invalid registry entry');
      return undefined;
    }
    const { url, weight, metadata } = v as { url: string; weight?: number; metadata?: Record<string, string> };
    return { id, url, weight: weight ?? 1, ...(metadata ? { metadata } : {}) };
  }

  #onSnapshot(kvs: KeyValue[]): void {
    this.#byKey = new Map();
    for (const kv of kvs) {
      const inst = this.#parse(kv);
      if (inst) this.#byKey.set(kv.key, inst);
    }
    this.#publish();
    this.#loaded?.();
  }

  #onChanges(changes: Change[]): void {
    for (const c of changes) {
      const inst = c.type === 'put' ? this.#parse(c) : undefined;
      if (inst) this.#byKey.set(c.key, inst);
      else this.#byKey.delete(c.key); // deleted (lease expired) or now invalid: not routable
    }
    this.#publish();
  }

  /** Calls onChange only when the list really changed (a reload usually changes nothing). */
  #publish(): void {
    const list = [...this.#byKey.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const sig = JSON.stringify(list);
    if (sig === this.#last) return;
    this.#last = sig;
    this.#list = list;
    try {
      this.#o.onChange(list);
    } catch (err) {
      this.#log.error({ err }, 'registry onChange threw');
    }
  }
}
