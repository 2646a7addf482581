/**
 * Cluster membership (contract: `<prefix>/nodes/<node-id>` = {address, version, revision,
 * startedAt} under a lease): every live node is listed with the config revision it serves,
 * which `gatewayctl status` shows; a node that dies disappears after the lease TTL.
 *
 * The key also says what the control plane needs to tell "converged" from "stuck": the last
 * revision the node refused (with its errors), the keys it skipped, its status address, and
 * a heartbeat: the key is written again every `heartbeatMs` (one small put), so a node that
 * was killed shows up as stale long before its lease expires (`lastHeartbeat` older than
 * 1.5 heartbeats).
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
  /** Where the node's status port listens (host:port): /metrics, /status, /cluster. */
  status?: string;
  /** How often the key is written again; `lastHeartbeat` older than 1.5 of these = stale. */
  heartbeatMs?: number;
  /** ISO 8601 time of the latest write of this key. */
  lastHeartbeat?: string;
  /** The last config revision this node refused, and why (it kept serving `revision`). */
  refused?: RefusedRevision | null;
  /** etcd keys skipped in the served config because they failed validation. */
  skipped?: Array<{ key: string; errors: string[] }>;
  /** When the node last heard from etcd (a write of this key succeeded) and NATS. */
  etcd?: { lastSeen: string | null; configFrom?: string };
  nats?: { connected: boolean; lastSeen: string | null } | null;
}

export interface RefusedRevision {
  revision: number;
  errors: string[];
  at: string;
}

/** What the node tells membership at each heartbeat. */
export interface MembershipProbe {
  /** NATS connected now; undefined = the node runs without NATS. */
  nats?: () => boolean | undefined;
  /** Where the served config came from (etcd, snapshot). */
  configFrom?: () => string | undefined;
}

const MAX_ERRORS = 20;
const MAX_SKIPPED = 50;
const clip = (s: string) => (s.length > 500 ? `${s.slice(0, 497)}...` : s);

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
  /** The node's status address (host:port), for the dashboard. */
  statusAddress?: string;
  /** Heartbeat period in ms (default 1000); 0 = no heartbeat. */
  heartbeatMs?: number;
  probe?: MembershipProbe;
}

const nodesRoot = (prefix: string) => `${prefix.replace(/\/+$/, '')}/nodes/`;

export class Membership {
  readonly key: string;
  readonly #client: Etcd3;
  readonly #ownClient: boolean;
  readonly #keeper: LeasedKey;
  readonly #startTimeout: number;
  readonly #heartbeatMs: number;
  readonly #probe: MembershipProbe;
  #timer: NodeJS.Timeout | undefined;
  #etcdSeen: string | null = null;
  #natsSeen: string | null = null;
  #info: Omit<NodeInfo, 'id'>;

  constructor(o: MembershipOptions) {
    if (!o.id || o.id.includes('/')) throw new TypeError(`node id must be non-empty without "/": ${JSON.stringify(o.id)}`);
    if (!o.client && !o.endpoints?.length) throw new TypeError('Membership needs endpoints or a client');
    this.key = nodesRoot(o.prefix) + o.id;
    this.#ownClient = !o.client;
    this.#client = o.client ?? createEtcdClient(o.endpoints ?? []);
    this.#startTimeout = o.startTimeout ?? 5000;
    this.#heartbeatMs = o.heartbeatMs ?? 1000;
    this.#probe = o.probe ?? {};
    this.#info = {
      address: o.address, version: o.version, revision: 0, startedAt: new Date().toISOString(),
      ...(o.statusAddress ? { status: o.statusAddress } : {}),
      heartbeatMs: this.#heartbeatMs, refused: null, skipped: [],
    };
    this.#keeper = new LeasedKey({
      client: this.#client, key: this.key, ttl: o.ttl ?? 10, logger: o.logger.child({ membership: o.id }),
      value: () => this.#value(), retryMin: o.retryMin, retryMax: o.retryMax,
      onWritten: () => { this.#etcdSeen = new Date().toISOString(); },
    });
  }

  /** The lease currently holding the key (decimal string), if any. */
  get leaseId(): string | undefined { return this.#keeper.leaseId; }
  /** When a write of the key last succeeded (ISO), i.e. when etcd was last heard from. */
  get etcdLastSeen(): string | null { return this.#etcdSeen; }
  /** etcd took a write within the last 2.5 heartbeats (with heartbeats on). */
  get etcdConnected(): boolean {
    return this.#etcdSeen !== null && this.#heartbeatMs > 0 && Date.now() - Date.parse(this.#etcdSeen) <= this.#heartbeatMs * 2.5;
  }
  /** Leases granted so far; above 1 means the key was lost and written again. */
  get grants(): number { return this.#keeper.grants; }

  /** Resolves once the node is listed; rejects after startTimeout, but keeps trying until stop(). */
  start(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`could not register node in etcd within ${this.#startTimeout} ms; still retrying`)), this.#startTimeout);
    });
    if (this.#heartbeatMs > 0 && !this.#timer) {
      this.#timer = setInterval(() => this.#keeper.refresh(), this.#heartbeatMs);
      this.#timer.unref();
    }
    return Promise.race([this.#keeper.start(), timeout]).finally(() => clearTimeout(timer));
  }

  /** The key's value at each write: the node's info with a fresh heartbeat. */
  #value(): string {
    const now = new Date().toISOString();
    const nats = this.#probe.nats?.();
    if (nats) this.#natsSeen = now;
    const configFrom = this.#probe.configFrom?.();
    return JSON.stringify({
      ...this.#info,
      lastHeartbeat: now,
      etcd: { lastSeen: this.#etcdSeen, ...(configFrom ? { configFrom } : {}) },
      nats: nats === undefined ? null : { connected: nats, lastSeen: this.#natsSeen },
    });
  }

  /** The node serves `revision`, with these keys skipped (published at once). */
  setServed(revision: number, skipped: ReadonlyArray<{ key: string; errors: string[] }>): void {
    const list = skipped.slice(0, MAX_SKIPPED).map((s) => ({ key: s.key, errors: s.errors.slice(0, MAX_ERRORS).map(clip) }));
    const same = revision === this.#info.revision && JSON.stringify(list) === JSON.stringify(this.#info.skipped);
    if (same) return;
    this.#info = { ...this.#info, revision, skipped: list };
    this.#keeper.refresh();
  }

  /** The node refused `revision` and keeps serving the one before (published at once). */
  setRefused(revision: number, errors: readonly string[]): void {
    this.#info = { ...this.#info, refused: { revision, errors: errors.slice(0, MAX_ERRORS).map(clip), at: new Date().toISOString() } };
    this.#keeper.refresh();
  }

  /** Publish the config revision this node now serves. */
  setRevision(revision: number): void {
    if (revision === this.#info.revision) return;
    this.#info = { ...this.#info, revision };
    this.#keeper.refresh();
  }

  /** Revokes the lease: the node disappears from the list at once. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
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
