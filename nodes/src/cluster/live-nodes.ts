/**
 * The ids of the live nodes, from the membership keys `<prefix>/nodes/<id>` (membership.ts):
 * loaded, then watched, so a node that leaves (lease revoked or expired) is gone here within
 * one watch event. While etcd is unreachable the last list is kept: an outage of etcd does not
 * make the cluster look smaller (which would loosen the fallback rate limits).
 */
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import { PrefixWatch, type Change, type KeyValue } from './etcd-client.ts';
import type { MemberSource } from './bus/peers.ts';

export class LiveNodes implements MemberSource {
  readonly #root: string;
  readonly #watch: PrefixWatch;
  #ids: Set<string> | undefined;

  constructor(client: Etcd3, prefix: string, logger: Logger) {
    this.#root = `${prefix.replace(/\/+$/, '')}/nodes/`;
    this.#watch = new PrefixWatch(client, this.#root, {
      onSnapshot: (kvs) => this.#load(kvs),
      onChanges: (changes) => this.#apply(changes),
    }, { logger: logger.child({ watch: 'nodes' }) });
  }

  /** The live node ids, or undefined before the first load. */
  ids(): ReadonlySet<string> | undefined { return this.#ids; }

  start(): void { this.#watch.start(); }
  stop(): Promise<void> { return this.#watch.stop(); }

  #id(key: string): string | undefined {
    const id = key.slice(this.#root.length);
    return id && !id.includes('/') ? id : undefined;
  }

  #load(kvs: KeyValue[]): void {
    const next = new Set<string>();
    for (const kv of kvs) { const id = this.#id(kv.key); if (id) next.add(id); }
    this.#ids = next;
  }

  #apply(changes: Change[]): void {
    const next = new Set(this.#ids);
    for (const c of changes) {
      const id = this.#id(c.key);
      if (!id) continue;
      if (c.type === 'put') next.add(id);
      else next.delete(id);
    }
    this.#ids = next; // a new object: readers may hold the old one
  }
}
