/**
 * Cluster membership (contract: `<prefix>/nodes/<node-id>` = {address, version, revision,
 * startedAt} under a lease): every live node is listed with the config revision it serves,
 * which `gatewayctl status` shows; a node that dies disappears after the lease TTL.
 */
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import { createEtcdClient } from './etcd-client.ts';
import { LeasedKey } from './leased-key.ts';

export interface NodeInfo {
  id: string;
  /** Where the node's proxy listens (host:port). */
  address: string;
  version: string;
  /** The config revision the node serves. */
  revision: number;
  /** ISO 8601 time the node started. */
  startedAt: string;
}

export interface MembershipOptions {
  /** Used when no `client` is given; the membership then owns and closes its client. */
  endpoints?: string[];
  client?: Etcd3;
  /** Key prefix without trailing slash, e.g. `/gatehouse`. */
  prefix: string;
  id: string;
  address: string;
  version: string;
  logger: Logger;
  /** Lease TTL in seconds (default 10): how long a dead node stays listed. */
  ttl?: number;
  /** start() rejects after this many ms without etcd (default 5000), but keeps trying. */
  startTimeout?: number;
  retryMin?: number;
  retryMax?: number;
}

const nodesRoot = (prefix: string) => `${prefix.replace(/\/+$/, '')}/nodes/`;

export class Membership {
  readonly key: string;
  readonly #client: Etcd3;
  readonly #ownClient: boolean;
  readonly #keeper: LeasedKey;
  readonly #startTimeout: number;
  #info: Omit<NodeInfo, 'id'>;

  constructor(o: MembershipOptions) {
    if (!o.id || o.id.includes('/')) throw new TypeError(`node id must be non-empty without "/": ${JSON.stringify(o.id)}`);
    if (!o.client && !o.endpoints?.length) throw new TypeError('Membership needs endpoints or a client');
    this.key = nodesRoot(o.prefix) + o.id;
    this.#ownClient = !o.client;
    this.#client = o.client ?? createEtcdClient(o.endpoints ?? []);
    this.#startTimeout = o.startTimeout ?? 5000;
    this.#info = { address: o.address, version: o.version, revision: 0, startedAt: new Date().toISOString() };
    this.#keeper = new LeasedKey({
      client: this.#client, key: this.key, ttl: o.ttl ?? 10, logger: o.logger.child({ membership: o.id }),
      value: () => JSON.stringify(this.#info), retryMin: o.retryMin, retryMax: o.retryMax,
    });
  }

  /** The lease currently holding the key (decimal string), if any. */
  get leaseId(): string | undefined { return this.#keeper.leaseId; }
  /** Leases granted so far; above 1 means the key was lost and written again. */
  get grants(): number { return this.#keeper.grants; }

  /** Resolves once the node is listed; rejects after startTimeout, but keeps trying until stop(). */
  start(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`could not register node in etcd within ${this.#startTimeout} ms; still retrying`)), this.#startTimeout);
    });
    return Promise.race([this.#keeper.start(), timeout]).finally(() => clearTimeout(timer));
  }

  /** Publish the config revision this node now serves. */
  setRevision(revision: number): void {
    if (revision === this.#info.revision) return;
    this.#info = { ...this.#info, revision };
    this.#keeper.refresh();
  }

  /** Revokes the lease: the node disappears from the list at once. */
  async stop(): Promise<void> {
    await this.#keeper.stop(true);
    if (this.#ownClient) this.#client.close();
  }
}

/** Every listed node, sorted by id. Entries that are not valid JSON objects are left out. */
export async function listNodes(client: Etcd3, prefix: string): Promise<NodeInfo[]> {
  const root = nodesRoot(prefix);
  const all = await client.getAll().prefix(root).strings();
  const out: NodeInfo[] = [];
  for (const [key, raw] of Object.entries(all)) {
    try {
      const v = JSON.parse(raw) as Partial<NodeInfo>;
      if (typeof v !== 'object' || v === null) continue;
      out.push({
        id: key.slice(root.length),
        address: String(v.address ?? ''),
        version: String(v.version ?? ''),
        revision: Number(v.revision ?? 0),
        startedAt: String(v.startedAt ?? ''),
      });
    } catch { /* a foreign or corrupt entry is not a node */ }
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
