/**
 * etcd plumbing shared by the config source, cluster membership and the service registry:
 * a client factory tuned for a gateway, and PrefixWatch, a load-then-watch mirror of one key
 * prefix that never misses a change (the pattern of Kubernetes' list+watch and APISIX's
 * config_etcd: read everything at revision R, watch from R+1, and on any watch loss read
 * everything again).
 */
import { Etcd3, Range, isRecoverableError, type IOptions, type IKeyValue, type IWatchResponse } from 'etcd3';
import type { Logger } from 'pino';

type Policy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>;
const never = new AbortController().signal;

/**
 * Fault policy without etcd3's defaults: its per-host breaker refuses every call for 5 s after
 * three failures, which only delays catching up once etcd is back (our callers retry with their
 * own backoff). `attempts` > 1 retries at once on the next endpoint, for multi-member clusters.
 */
function retryAcrossHosts(attempts: number): Policy {
  const policy = {
    async execute<T>(fn: (ctx: { signal: AbortSignal }) => PromiseLike<T> | T): Promise<T> {
      for (let i = 1; ; i++) {
        try {
          return await fn({ signal: never });
        } catch (err) {
          if (i >= attempts || !isRecoverableError(err as Error)) throw err;
        }
      }
    },
  };
  return policy as unknown as Policy;
}

export interface EtcdClientOptions {
  /** Deadline for unary calls (range, put, lease grant) in ms; default 5000. Streams have none. */
  callTimeout?: number;
}

export function createEtcdClient(endpoints: string[], opts: EtcdClientOptions = {}): Etcd3 {
  const callTimeout = opts.callTimeout ?? 5000;
  return new Etcd3({
    hosts: endpoints,
    // Without a deadline a call to a hung (not down) etcd waits forever.
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + callTimeout }),
    faultHandling: { host: () => retryAcrossHosts(1), global: retryAcrossHosts(endpoints.length) },
    grpcOptions: {
      // grpc-js's reconnect backoff grows to 120 s by default: too slow to notice etcd is back.
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 2000,
      // Detect a dead peer that sent no RST. etcd tolerates pings every 5 s
      // (--grpc-keepalive-min-time); there is always a watch or keepalive stream open.
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      // A whole config in one range read can exceed grpc's default 4 MB.
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
    },
  });
}

export interface KeyValue { key: string; value: string; modRevision: number }
export interface Change extends KeyValue { type: 'put' | 'delete' }

export interface PrefixWatchHandlers {
  /** Every key under the prefix as of `revision`: the first load, and again after each watch loss. */
  onSnapshot(kvs: KeyValue[], revision: number): void;
  /** The changes of one watch response, oldest first; `revision` is the newest one's. */
  onChanges(changes: Change[], revision: number): void;
}

export interface PrefixWatchOptions {
  logger: Logger;
  /** ms to wait for etcd to confirm a watch; default 5000. */
  callTimeout?: number;
  /** Reload backoff after a failure: starts at retryMin ms (default 100), doubles up to retryMax (default 2000). */
  retryMin?: number;
  retryMax?: number;
}

const toKv = (kv: IKeyValue): KeyValue => ({ key: kv.key.toString(), value: kv.value.toString(), modRevision: Number(kv.mod_revision) });

/**
 * Mirrors a prefix. It talks to the raw watch stream rather than etcd3's Watcher, which on a
 * reconnect resumes from the revision of its create response (so it can skip events it was
 * still replaying) and hides compact_revision. Here every loss of the watch (stream error,
 * etcd restart, compaction, cancel) means: load everything again and watch from there.
 */
export class PrefixWatch {
  /** Full loads after the first one (compactions, reconnects); for metrics and tests. */
  reloads = 0;
  readonly #client: Etcd3;
  readonly #prefix: string;
  readonly #handlers: PrefixWatchHandlers;
  readonly #log: Logger;
  readonly #callTimeout: number;
  readonly #retryMin: number;
  readonly #retryMax: number;
  #stopped = false;
  #running: Promise<void> | undefined;
  #abort: ((reason: string) => void) | undefined;
  #wake: (() => void) | undefined;

  constructor(client: Etcd3, prefix: string, handlers: PrefixWatchHandlers, opts: PrefixWatchOptions) {
    this.#client = client;
    this.#prefix = prefix;
    this.#handlers = handlers;
    this.#log = opts.logger;
    this.#callTimeout = opts.callTimeout ?? 5000;
    this.#retryMin = opts.retryMin ?? 100;
    this.#retryMax = opts.retryMax ?? 2000;
  }

  start(): void {
    this.#running ??= this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort?.('stopped');
    this.#wake?.();
    await this.#running;
  }

  async #run(): Promise<void> {
    let delay = this.#retryMin;
    let loads = 0;
    while (!this.#stopped) {
      let reason: string;
      try {
        const res = await this.#client.getAll().prefix(this.#prefix).exec();
        if (this.#stopped) return;
        const revision = Number(res.header.revision);
        if (loads++ > 0) this.reloads++;
        this.#handlers.onSnapshot(res.kvs.map(toKv), revision);
        reason = await this.#watch(revision + 1, () => { delay = this.#retryMin; });
      } catch (err) {
        reason = `load failed: ${(err as Error).message}`;
      }
      if (this.#stopped) return;
      this.#log.warn({ prefix: this.#prefix, reason, retryInMs: delay }, 'etcd watch lost; reloading');
      await this.#sleep(delay * (0.8 + Math.random() * 0.4)); // jitter: nodes do not reload in lockstep
      delay = Math.min(delay * 2, this.#retryMax);
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.#wake = undefined; resolve(); }, ms);
      this.#wake = () => { clearTimeout(timer); this.#wake = undefined; resolve(); };
    });
  }

  /** Watches from `from` until the watch is lost; resolves with why. */
  #watch(from: number, onCreated: () => void): Promise<string> {
    return new Promise((resolve) => {
      let done = false;
      let stream: Awaited<ReturnType<Etcd3['watchClient']['watch']>> | undefined;
      const finish = (reason: string) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.#abort = undefined;
        // end() first: etcd3 marks the host failed (closing its channels) when a still-writable
        // stream errors, and cancel() makes it error with CANCELLED.
        if (stream) { stream.end(); stream.cancel(); }
        resolve(reason);
      };
      const timer = setTimeout(() => finish('watch not confirmed in time'), this.#callTimeout);
      this.#abort = finish;
      const range = Range.prefix(this.#prefix);
      this.#client.watchClient.watch().then((s) => {
        stream = s;
        if (done) { s.end(); s.cancel(); return; }
        s.on('error', (err) => finish(`watch stream failed: ${err.message}`));
        s.on('end', () => finish('watch stream ended'));
        s.on('data', (res) => {
          if (done) return;
          try {
            this.#onResponse(res, from, onCreated, finish, () => clearTimeout(timer));
          } catch (err) {
            finish(`handler failed: ${(err as Error).message}`);
          }
        });
        s.write({ create_request: { key: range.start, range_end: range.end, start_revision: from } });
      }, (err: Error) => finish(`watch could not start: ${err.message}`));
    });
  }

  #onResponse(res: IWatchResponse, from: number, onCreated: () => void, finish: (r: string) => void, confirmed: () => void): void {
    if (res.canceled) {
      const compacted = Number(res.compact_revision);
      finish(compacted > 0
        ? `revision ${from} was compacted (etcd keeps history from ${compacted})`
        : `watch canceled by etcd: ${res.cancel_reason || 'no reason given'}`);
      return;
    }
    if (res.created) { confirmed(); onCreated(); }
    if (!res.events.length) return;
    const changes = res.events.map((ev): Change => ({ type: ev.type === 'Delete' ? 'delete' : 'put', ...toKv(ev.kv) }));
    this.#handlers.onChanges(changes, changes[changes.length - 1]!.modRevision);
  }
}
