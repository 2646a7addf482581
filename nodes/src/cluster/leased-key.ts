/**
 * One key kept alive under an etcd lease: node membership and service registration. If the
 * holder dies, keepalives stop and etcd deletes the key after the TTL. If the lease is lost
 * while we live (etcd down longer than the TTL, or someone revoked it), we grant a new one and
 * put the key again, so a live holder always comes back.
 */
import type { Etcd3, Lease } from 'etcd3';
import type { Logger } from 'pino';

export interface LeasedKeyOptions {
  client: Etcd3;
  key: string;
  /** Lease TTL in seconds (etcd raises anything under ~2 s to its minimum). */
  ttl: number;
  /** The value to write; read at every put, so it is always the latest. */
  value: () => string;
  logger: Logger;
  /** Backoff between failed attempts, ms (default 100 .. 2000). */
  retryMin?: number;
  retryMax?: number;
  /** Told after each successful write of the key (membership: "last heard from etcd"). */
  onWritten?: () => void;
}

export class LeasedKey {
  /** Leases granted so far; above 1 means the key was re-established. */
  grants = 0;
  readonly #o: LeasedKeyOptions;
  #lease: Lease | undefined;
  #leaseId: string | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;
  #stopSignal: () => void = () => undefined;
  readonly #stopping: Promise<void>;
  readonly #wakers = new Set<() => void>();
  #ready: () => void = () => undefined;
  readonly #readyP: Promise<void>;
  #chain: Promise<unknown> = Promise.resolve();
  #dirty = false;
  #flushing = false;

  constructor(o: LeasedKeyOptions) {
    this.#o = o;
    this.#stopping = new Promise((r) => { this.#stopSignal = r; });
    this.#readyP = new Promise((r) => { this.#ready = r; });
  }

  /** The current lease id (decimal string), if one is held. */
  get leaseId(): string | undefined { return this.#leaseId; }

  /** Starts the loop; resolves once the key is first written (never rejects: race it with a timeout). */
  start(): Promise<void> {
    this.#running ??= this.#run();
    return this.#readyP;
  }

  /** The value changed: write it again (in order, retried until it lands or the lease changes). */
  refresh(): void {
    this.#dirty = true;
    if (!this.#flushing) void this.#flush();
  }

  /** Stops keepalives; `revoke` (default) deletes the key now instead of after the TTL. */
  async stop(revoke = true): Promise<void> {
    if (this.#stopped) return this.#running;
    this.#stopped = true;
    this.#stopSignal();
    for (const wake of this.#wakers) wake();
    const lease = this.#lease;
    this.#lease = undefined;
    if (lease && revoke) {
      await lease.revoke().catch((err: Error) => this.#o.logger.warn({ key: this.#o.key, err: err.message }, 'lease revoke failed; the key expires with its TTL'));
    } else {
      lease?.release();
    }
    await this.#running;
  }

  async #run(): Promise<void> {
    const { client, ttl, key, logger } = this.#o;
    const min = this.#o.retryMin ?? 100;
    const max = this.#o.retryMax ?? 2000;
    let delay = min;
    while (!this.#stopped) {
      const lease = client.lease(ttl);
      // 'lost' can fire before grant() settles (grant failure), so listen from the start.
      const lost = new Promise<Error>((r) => lease.once('lost', r));
      try {
        const id = await lease.grant();
        if (this.#stopped) { await lease.revoke().catch(() => undefined); return; }
        this.#lease = lease;
        this.#leaseId = id;
        this.grants++;
        this.#dirty = false;
        await this.#put(lease);
        this.#ready();
        delay = min;
        const why = await Promise.race([lost, this.#stopping]);
        if (this.#stopped) return;
        logger.warn({ key, leaseId: id, reason: why?.message }, 'lease lost; granting a new one and writing the key again');
      } catch (err) {
        if (this.#stopped) return;
        logger.warn({ key, err: (err as Error).message, retryInMs: delay }, 'could not hold leased key; retrying');
      }
      if (this.#lease === lease) { this.#lease = undefined; this.#leaseId = undefined; }
      lease.release(); // stop its keepalives; if it still exists in etcd it expires on its own
      await this.#sleep(delay * (0.8 + Math.random() * 0.4));
      delay = Math.min(delay * 2, max);
    }
  }

  /** Puts run one after another so a slow earlier put never lands after a newer value. */
  #put(lease: Lease): Promise<void> {
    const p = this.#chain.then(() => lease.put(this.#o.key).value(this.#o.value()).exec());
    this.#chain = p.catch(() => undefined);
    return p.then(() => { this.#o.onWritten?.(); });
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    let delay = this.#o.retryMin ?? 100;
    while (this.#dirty && !this.#stopped) {
      const lease = this.#lease;
      if (!lease) break; // the run loop writes the latest value when it has a lease again
      this.#dirty = false;
      try {
        await this.#put(lease);
      } catch (err) {
        this.#dirty = true;
        this.#o.logger.warn({ key: this.#o.key, err: (err as Error).message }, 'could not update leased key; retrying');
        await this.#sleep(delay);
        delay = Math.min(delay * 2, this.#o.retryMax ?? 2000);
      }
    }
    this.#flushing = false;
  }

  /** A sleep that stop() cuts short (the run loop and a flush may both be sleeping). */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.#stopped) { resolve(); return; }
      const done = () => { clearTimeout(timer); this.#wakers.delete(done); resolve(); };
      const timer = setTimeout(done, ms);
      this.#wakers.add(done);
    });
  }
}
