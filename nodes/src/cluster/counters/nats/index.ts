/**
 * The counter store for `scope: cluster`: one limit for the whole cluster, decided on each
 * node without a network round trip (docs/decisions/0004-rate-limit-algorithm.md,
 * docs/cluster.md "Shared state over NATS: rate limits"). It runs on the ClusterBus (NATS in
 * production; cluster/bus/), with the same idea as the workers store:
 *
 *  - acquire() decides from a local GCRA table that is this node's *view* of the cluster's
 *    count: its own use, plus what every peer reported.
 *  - Every `flushInterval` (50 ms) the units each key used since the last batch are
 *    published as one message per node (`[rule id, keys[], units[]]`, refunds negative);
 *    a received batch advances the local TATs as if the use happened on arrival.
 *
 * Leases: a node cannot see what its peers admitted in the current round (P = flushInterval,
 * rounds aligned on the wall clock). So that a burst spread over the nodes within one round
 * is not admitted once per node, a node's in-flight use of a key (this round's, plus the last
 * batch until it settled) may reach only max(room at the round's start / group, P/T, 1);
 * see ClusterCounter.leased(). In steady state on a busy key the lease does not bind (one
 * node may take a whole round's refill) and every unit admitted anywhere advances every view
 * by exactly T, so the cluster admits the limit (± the in-flight L·P units, once). Bound:
 * over any span s at most burst + s/T + N·max(1, P/T); a fresh key hit on every node within
 * one round: max(burst + P/T, N·max(1, P/T)). docs/cluster.md "Error bound" has the derivation.
 *
 * Degraded mode: when the bus is down, or this node hears fewer peers than etcd lists as
 * live, the use of the missing nodes is invisible, so the limit shrinks to this node's share
 * s = group/total: decisions move to a fallback table per rule with interval T/s and burst
 * max(1, burst·s), i.e. with NATS down each node enforces limit ÷ live nodes. (Scaling the
 * cost in the main table instead would refuse everything when burst < 1/s.) The main table
 * keeps counting what this node hears meanwhile, so it is warm when the bus returns.
 * Entering and leaving degraded mode is logged once each and shown by the gauge
 * gatehouse_cluster_degraded{component="rate-limit"} (read `degraded`).
 */
import type { Logger } from 'pino';
import { GcraTable } from '../gcra.ts';
import type { LocalStoreOptions } from '../local/index.ts';
import type { CounterStore, Decision, RateCounter, RateRule } from '../store.ts';
import { TOPICS, decodeJson, encodeJson, type ClusterBus } from '../../bus/types.ts';
import type { PeerView } from '../../bus/peers.ts';

/** What the store needs to know about the other nodes (ClusterPeers implements it). */
export interface PeerSource {
  view(): PeerView;
  onChange(fn: (v: PeerView) => void): () => void;
}

export interface ClusterStoreOptions extends LocalStoreOptions {
  bus: ClusterBus;
  peers: PeerSource;
  logger?: Logger | undefined;
  /**
   * ms between batches (default 50): the round of the leases. Batches are sent at multiples
   * of it on the wall clock, so every node's rounds start at the same moments.
   */
  flushInterval?: number;
  /** false: no batch timer, the caller calls flush() (simulations in tests). Default true. */
  autoFlush?: boolean;
  /**
   * ms after a batch during which its units still count as this node's in-flight use (the
   * bus latency it allows for; default flushInterval / 5).
   */
  settleMs?: number;
  /** Split a batch into messages of about this many bytes (default 48 KiB; NATS allows 1 MiB). */
  maxMessageBytes?: number;
  /** The time scale of acquire()'s `now` (default performance.now); tests pass their own. */
  clock?: () => number;
}

/** One message: per rule, the keys and the units each used since the last batch. */
type Batch = Array<[string, string[], number[]]>;

/** One rule's state, shared by every snapshot that opens the same id. */
class Entry {
  readonly rule: RateRule;
  /** The view of the cluster's count. */
  readonly main: GcraTable;
  /** Used while degraded: the same rule at `share` of its rate (rebuilt when the share changes). */
  fallback: GcraTable | undefined = undefined;
  share = 1;
  refs = 0;
  /** Keys → units used here since the last batch. */
  pending = new Map<string, number>();
  /** The last batch's units (keys → units) and when it went: in flight for `settleMs`. */
  sent = new Map<string, number>();
  sentAt = -Infinity;
  constructor(rule: RateRule) {
    this.rule = rule;
    this.main = new GcraTable(rule);
  }
  /** The table decisions use at `share` (1 = the main one). */
  table(share: number): GcraTable {
    if (share >= 1) return this.main;
    if (this.fallback === undefined || this.share !== share) {
      const r = this.rule;
      this.fallback = new GcraTable({ interval: r.interval / share, burst: Math.max(1, r.burst * share), maxKeys: r.maxKeys });
      this.share = share;
    }
    return this.fallback;
  }
}

export class ClusterCounterStore implements CounterStore {
  readonly kind = 'cluster';
  /** This node's share of every limit: 1, or group/total while degraded. */
  share = 1;
  degraded = false;
  /** Batch messages sent and received (for /cluster and tests). */
  sent = 0;
  received = 0;
  /** Nodes that share the count right now (this one + the peers it hears): the lease divisor. */
  group = 1;
  /** Requests refused by a lease although the view had room (for /cluster and tests). */
  leaseRefusals = 0;
  /** See ClusterStoreOptions. */
  readonly period: number;
  readonly settleMs: number;
  private readonly entries = new Map<string, Entry>();
  private readonly bus: ClusterBus;
  private readonly log: Logger | undefined;
  private readonly maxBytes: number;
  private readonly clock: () => number;
  private flushTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly offs: Array<() => void>;
  /** The message being built by flush(), and its estimated size. */
  private out: Batch = [];
  private outBytes = 0;

  constructor(o: ClusterStoreOptions) {
    this.bus = o.bus;
    this.log = o.logger;
    this.maxBytes = o.maxMessageBytes ?? 48 * 1024;
    this.clock = o.clock ?? (() => performance.now());
    this.offs = [
      this.bus.subscribe(TOPICS.rateLimit, (data) => this.receive(data, this.clock())),
      o.peers.onChange((v) => this.evaluate(v)),
    ];
    this.period = o.flushInterval ?? 50;
    this.settleMs = o.settleMs ?? this.period / 5;
    this.evaluate(o.peers.view());
    if (o.autoFlush !== false) this.schedule();
    this.sweepTimer = setInterval(() => this.sweep(this.clock()), o.sweepInterval ?? 1000);
    this.sweepTimer.unref();
  }

  open(rule: RateRule): RateCounter {
    let e = this.entries.get(rule.id);
    if (!e) { e = new Entry(rule); this.entries.set(rule.id, e); }
    e.refs++;
    return new ClusterCounter(this, e);
  }

  /** Called by ClusterCounter.close(): the state goes with the last user (after its last batch). */
  release(e: Entry): void {
    if (--e.refs > 0 || this.entries.get(e.rule.id) !== e) return;
    this.flushEntry(e, this.bus.connected);
    this.sendOut();
    this.entries.delete(e.rule.id);
  }

  /** Publish what was used since the last batch (the timer calls it; public for tests). */
  flush(): void {
    const up = this.bus.connected;
    for (const e of this.entries.values()) this.flushEntry(e, up);
    this.sendOut();
  }

  /** Apply a peer's batch (public for tests). Rules this node does not run are ignored. */
  receive(data: Uint8Array, now: number): void {
    const m = decodeJson(data);
    if (!Array.isArray(m)) return;
    this.received++;
    const share = this.share;
    for (const item of m as unknown[]) {
      if (!Array.isArray(item)) continue;
      const [id, keys, units] = item as unknown[];
      const e = typeof id === 'string' ? this.entries.get(id) : undefined;
      if (!e || !Array.isArray(keys) || !Array.isArray(units)) continue;
      const fb = share < 1 ? e.table(share) : undefined;
      for (let i = 0; i < keys.length; i++) {
        const k: unknown = keys[i];
        const u: unknown = units[i];
        if (typeof k !== 'string' || typeof u !== 'number' || !Number.isFinite(u)) continue;
        e.main.advance(k, u, now);
        fb?.advance(k, u, now);
      }
    }
  }

  sweep(now: number): void {
    for (const e of this.entries.values()) { e.main.sweep(now); e.fallback?.sweep(now); }
  }

  close(): void {
    this.closed = true;
    this.flush();
    clearTimeout(this.flushTimer);
    clearInterval(this.sweepTimer);
    for (const off of this.offs.splice(0)) off();
  }

  /**
   * The next batch at the next multiple of the period on the wall clock (NTP keeps the nodes'
   * clocks within a few ms): the nodes' rounds start together, which the leases rely on.
   */
  private schedule(): void {
    if (this.closed) return;
    const P = this.period;
    this.flushTimer = setTimeout(() => { this.flush(); this.schedule(); }, P - (Date.now() % P));
    this.flushTimer.unref();
  }

  /** Move one rule's pending use into the message being built (sending it whenever it is full). */
  private flushEntry(e: Entry, up: boolean): void {
    const p = e.pending;
    if (!p.size) { // nothing new; drop the last batch once it settled (a timer may fire a little early)
      if (e.sent.size && this.clock() - e.sentAt >= this.settleMs) e.sent.clear();
      return;
    }
    this.publishEntry(e.rule.id, p, up);
    // What goes now stays in flight until the peers have had time to count it (together with
    // the batch before, when that has not settled yet).
    const now = this.clock();
    const prev = e.sent;
    if (now - e.sentAt < this.settleMs) for (const [k, u] of prev) p.set(k, (p.get(k) ?? 0) + u);
    prev.clear();
    e.pending = prev;
    e.sent = p;
    e.sentAt = now;
  }

  private publishEntry(id: string, p: Map<string, number>, up: boolean): void {
    // Use made while disconnected was limited by the degraded share; replaying it later would count it twice.
    if (!up) { p.clear(); return; }
    let keys: string[] = [];
    let units: number[] = [];
    for (const [k, u] of p) {
      if (u === 0) continue;
      if (!keys.length) this.outBytes += id.length + 16;
      keys.push(k);
      units.push(u);
      this.outBytes += k.length + 16; // JSON quotes, comma, digits: a generous estimate
      if (this.outBytes >= this.maxBytes) {
        this.out.push([id, keys, units]);
        this.sendOut();
        keys = [];
        units = [];
      }
    }
    if (keys.length) this.out.push([id, keys, units]);
  }

  private sendOut(): void {
    const b = this.out;
    this.out = [];
    this.outBytes = 0;
    if (b.length && this.bus.publish(TOPICS.rateLimit, encodeJson(b))) this.sent++;
  }

  /**
   * Pick the share from the peer view. Right after a (re)connect the view is not settled
   * (peers have not answered yet): keep the current share rather than flap.
   */
  private evaluate(v: PeerView): void {
    // Unsettled: the lease assumes every known node may be using the count (the safe side).
    if (v.connected && !v.settled) { this.group = Math.max(this.group, v.total); return; }
    const share = v.group / v.total; // group is 1 while disconnected
    const degraded = !v.connected || v.group < v.total;
    const was = this.degraded;
    const changed = share !== this.share;
    this.share = share;
    this.degraded = degraded;
    this.group = v.group;
    const fields = { nodes: v.total, heard: v.connected ? v.group - 1 : 0, reason: v.connected ? 'peers not heard on NATS' : 'NATS unreachable' };
    const what = v.group === 1
      ? `this node enforces 1/${v.total} of each cluster-scope limit`
      : `this node and the ${v.group - 1} peer(s) it hears enforce ${v.group}/${v.total} of each cluster-scope limit`;
    if (degraded && !was) this.log?.warn(fields, `cluster rate limits degraded: ${what}`);
    else if (!degraded && was) this.log?.info({ nodes: v.total }, 'cluster rate limits recovered: counts are shared over NATS again');
    else if (degraded && changed) this.log?.info(fields, `cluster rate limits still degraded: ${what}`);
  }
}

class ClusterCounter implements RateCounter {
  private readonly store: ClusterCounterStore;
  private readonly e: Entry;
  private closed = false;

  constructor(store: ClusterCounterStore, e: Entry) {
    this.store = store;
    this.e = e;
  }

  acquire(key: string, cost: number, now: number, out: Decision): boolean {
    const e = this.e;
    const store = this.store;
    const share = store.share;
    const table = share >= 1 ? e.main : e.table(share);
    const used = e.pending.get(key) ?? 0;
    if (store.group > 1 && !this.leased(table, key, used, cost, now, out)) return false;
    if (!table.acquire(key, cost, now, out)) return false;
    if (share < 1) e.main.advance(key, cost, now); // keep the shared view warm for when the bus returns
    e.pending.set(key, used + cost);
    return true;
  }

  /**
   * The lease: what this node may use of `key` in one round without its peers knowing. Its
   * in-flight use (since the last batch, plus that batch until it settled) may reach its
   * share of the room the round started with, or one round's refill (at least one unit):
   *   inFlight + cost ≤ max((available + inFlight) / group, period / T, 1)
   * `available` is this node's view, which holds its own in-flight use; adding that back
   * gives the room at the round's start (every node's rounds start together, and the last
   * round's batches arrive within `settleMs`). Each node takes at most 1/group of it, so a
   * burst spread over the nodes within one round admits the limit, not group × the limit.
   * The refill term keeps a busy key at its rate when traffic is uneven (one node may take a
   * whole round's refill); the first unit of a round always passes the lease (the view still
   * has to allow it). Refused here: 429 until the next round.
   */
  private leased(table: GcraTable, key: string, used: number, cost: number, now: number, out: Decision): boolean {
    const e = this.e;
    const store = this.store;
    const inFlight = now - e.sentAt < store.settleMs ? used + (e.sent.get(key) ?? 0) : used;
    if (inFlight <= 0) return true;
    const T = table.interval;
    const lease = Math.max((table.available(key, now) + inFlight) / store.group, store.period / T, 1);
    if (inFlight + cost <= lease + 1e-9) return true;
    store.leaseRefusals++;
    out.allowed = false;
    out.remaining = 0;
    out.resetMs = table.resetIn(key, now);
    out.retryAfterMs = Math.max(1, store.period - ((performance.timeOrigin + now) % store.period)); // the next round
    return false;
  }

  refund(key: string, cost: number, now: number): void {
    const e = this.e;
    const share = this.store.share;
    e.main.refund(key, cost, now);
    if (share < 1) e.table(share).refund(key, cost, now);
    e.pending.set(key, (e.pending.get(key) ?? 0) - cost);
  }

  get size(): number { return this.e.main.size; }
  get evictions(): { readonly idle: number; readonly cap: number } { return { idle: this.e.main.evictedIdle, cap: this.e.main.evictedCap }; }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.store.release(this.e);
  }
}
