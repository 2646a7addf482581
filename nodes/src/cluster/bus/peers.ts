/**
 * Who this node hears on the bus. Every node sends a heartbeat every `heartbeatMs` (and a
 * "hello" when it (re)connects, which the others answer at once, so a returning node learns
 * its peers in one round trip instead of one heartbeat period). A peer is alive while it was
 * heard within `timeoutMs`.
 *
 * What shared state needs from this:
 *  - rate limits: the share of the cluster this node is in touch with. `group` = itself plus
 *    the peers it hears; `total` = the members etcd lists (their leases are live) plus the
 *    group. With group < total some nodes' use is invisible here, so a limit must shrink to
 *    group/total of itself (counters/nats/).
 *  - breakers: whether the node that owns a half-open breaker is still there (alive()).
 * Both are read often, so view() is cached and only rebuilt when something changed.
 */
import { TOPICS, notify, type ClusterBus } from './types.ts';

/** The live members as etcd lists them (cluster/live-nodes.ts), or undefined while not known yet. */
export interface MemberSource {
  ids(): ReadonlySet<string> | undefined;
}

export interface PeerView {
  readonly connected: boolean;
  /** Nodes whose state this node hears now: itself + peers heard within the timeout (≥ 1). */
  readonly group: number;
  /** Nodes in the cluster as far as this node knows: members ∪ group (≥ group). */
  readonly total: number;
  /**
   * False for `settleMs` after the bus (re)connected: peers have not had time to answer yet,
   * so a small group means nothing. Users keep their previous judgement meanwhile.
   */
  readonly settled: boolean;
}

export interface PeersOptions {
  bus: ClusterBus;
  members?: MemberSource | undefined;
  /** ms between heartbeats (default 500). */
  heartbeatMs?: number;
  /** A peer not heard for this long is gone (default 3 heartbeats). */
  timeoutMs?: number;
  /** See PeerView.settled (default heartbeatMs + 200). */
  settleMs?: number;
  clock?: () => number;
}

const HELLO = Uint8Array.of(1);
const BEAT = Uint8Array.of(0);

export class ClusterPeers {
  readonly bus: ClusterBus;
  readonly heartbeatMs: number;
  readonly timeoutMs: number;
  private readonly settleMs: number;
  private readonly members: MemberSource | undefined;
  private readonly clock: () => number;
  private readonly lastHeard = new Map<string, number>();
  private readonly listeners = new Set<(v: PeerView) => void>();
  private readonly joins = new Set<(id: string) => void>();
  private readonly offs: Array<() => void> = [];
  private timer: NodeJS.Timeout | undefined;
  private connectedAt = 0;
  private lastSent = -Infinity;
  private lastAnswer = -Infinity;
  private cached: PeerView | undefined;

  constructor(o: PeersOptions) {
    this.bus = o.bus;
    this.members = o.members;
    this.heartbeatMs = o.heartbeatMs ?? 500;
    this.timeoutMs = o.timeoutMs ?? 3 * this.heartbeatMs;
    this.settleMs = o.settleMs ?? this.heartbeatMs + 200;
    this.clock = o.clock ?? (() => performance.now());
  }

  get self(): string { return this.bus.id; }

  start(): void {
    if (this.timer) return;
    this.offs.push(this.bus.subscribe(TOPICS.heartbeat, (data, from) => this.heard(from, data[0] === 1)));
    this.offs.push(this.bus.onStatus((up) => {
      if (up) { this.connectedAt = this.clock(); this.send(HELLO); } else this.lastHeard.clear();
      this.changed();
    }));
    if (this.bus.connected) { this.connectedAt = this.clock(); this.send(HELLO); }
    this.timer = setInterval(() => this.tick(), Math.max(10, Math.floor(this.heartbeatMs / 2)));
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const off of this.offs.splice(0)) off();
  }

  /** This node, or a peer heard within the timeout while the bus is up. */
  alive(id: string): boolean {
    if (id === this.self) return true;
    const t = this.lastHeard.get(id);
    return this.bus.connected && t !== undefined && this.clock() - t <= this.timeoutMs;
  }

  /** Ids of the peers alive now (not this node), sorted. */
  peers(): string[] {
    const now = this.clock();
    const out: string[] = [];
    if (!this.bus.connected) return out;
    for (const [id, t] of this.lastHeard) if (now - t <= this.timeoutMs) out.push(id);
    return out.sort();
  }

  view(): PeerView {
    return (this.cached ??= this.build());
  }

  /** Told when any field of view() changed. */
  onChange(fn: (v: PeerView) => void): () => void {
    this.listeners.add(fn);
    return () => { this.listeners.delete(fn); };
  }

  /** Told when a peer starts being heard (it started, reconnected, or a partition healed). */
  onJoin(fn: (id: string) => void): () => void {
    this.joins.add(fn);
    return () => { this.joins.delete(fn); };
  }

  /** Expire peers, send the heartbeat when due, re-read the members (public for tests). */
  tick(): void {
    const now = this.clock();
    if (now - this.lastSent >= this.heartbeatMs) this.send(BEAT);
    for (const [id, t] of this.lastHeard) if (now - t > this.timeoutMs) this.lastHeard.delete(id);
    this.changed();
  }

  private heard(from: string, hello: boolean): void {
    const isNew = !this.lastHeard.has(from);
    this.lastHeard.set(from, this.clock());
    // Answer a hello at once (at most every 50 ms, so a storm of hellos costs one reply each).
    if (hello && this.clock() - this.lastAnswer >= 50) { this.lastAnswer = this.clock(); this.send(BEAT); }
    if (isNew) { this.changed(); notify(this.joins, from); }
  }

  private send(data: Uint8Array): void {
    if (this.bus.publish(TOPICS.heartbeat, data)) this.lastSent = this.clock();
  }

  private build(): PeerView {
    const connected = this.bus.connected;
    const peers = this.peers();
    const members = this.members?.ids();
    let total = peers.length + 1;
    if (members) for (const id of members) if (id !== this.self && !peers.includes(id)) total++;
    return Object.freeze({
      connected,
      group: peers.length + 1,
      total,
      settled: connected && this.clock() - this.connectedAt >= this.settleMs,
    });
  }

  private changed(): void {
    const prev = this.cached;
    this.cached = undefined;
    const v = this.view();
    if (prev && prev.connected === v.connected && prev.group === v.group && prev.total === v.total && prev.settled === v.settled) return;
    notify(this.listeners, v);
  }
}
