/**
 * The cluster breaker store (`circuitBreaker.scope: cluster`; registered as
 * `services.breakerStore`). Design in docs/cluster.md "Shared state over NATS: circuit
 * breakers"; the contract in ../README.md.
 *
 *  - Counting stays per node (no message per request). A node whose counts open a breaker
 *    applies it at once and publishes {key, open, openFor left, owner = itself}; every node
 *    that receives it is forced open for the time left (target: all nodes within 250 ms).
 *  - When the open period ends, one node probes: the owner (the node that opened it). If the
 *    owner is not heard on the bus any more, the rendezvous hash of the key over the live
 *    node ids picks the one that takes over (and says so). A half-open that sees no verdict
 *    for `stall` (2 × openFor, at least 10 s: the owner gets no traffic for the target) is
 *    taken over the same way. Everyone else stays shut (half-open, not admitting) until the
 *    prober publishes `closed` (all probes passed) or `open` again.
 *  - Versions (gen, origin) order the messages (protocol.ts). After a (re)connect each node
 *    re-sends what is not closed, and a node that knows a newer version answers: a healed
 *    partition converges on the newest state of every key.
 *  - Bus down: every node is on its own (local breakers, probing itself) until it returns.
 */
import type { Logger } from 'pino';
import { TOPICS, decodeJson, encodeJson, type ClusterBus } from '../../../cluster/bus/types.ts';
import { realClock, type Clock } from '../local.ts';
import { CLOSED, HALF_OPEN, OPEN, PHASE_NAMES, type BreakerKey, type BreakerListener, type BreakerSettings, type BreakerState, type BreakerStore } from '../types.ts';
import { ClusterBreaker, type BreakerHost, type KeyRecord } from './breaker.ts';
import { isBreakerMessage, newer, rendezvous, type BreakerMessage } from './protocol.ts';

/** Who else is there (ClusterPeers implements it). */
export interface Liveness {
  /** A peer heard recently on the bus (this node: always). */
  alive(id: string): boolean;
  /** The peers alive now, not this node. */
  peers(): string[];
  /** Told when a peer starts being heard (it (re)connected, or a partition healed). */
  onJoin?(fn: (id: string) => void): () => void;
}

export interface ClusterBreakerOptions {
  bus: ClusterBus;
  peers: Liveness;
  logger?: Logger | undefined;
  clock?: Clock;
  /** How often half-open breakers check for a takeover and idle records are dropped (ms, default 250). */
  tickMs?: number;
  /** Minimum stall before a half-open is taken over (ms, default 10000). */
  minStallMs?: number;
}

/** How long a record of a key nobody here uses is kept (a reload that re-creates it finds it). */
const KEEP_UNUSED_MS = 60_000;

export class ClusterBreakerStore implements BreakerStore, BreakerHost {
  readonly scope = 'cluster' as const;
  readonly records = new Map<string, KeyRecord>();
  /** Transitions sent and received (for /cluster and tests). */
  sent = 0;
  received = 0;
  private readonly bus: ClusterBus;
  private readonly peers: Liveness;
  private readonly log: Logger | undefined;
  private readonly clock: Clock;
  private readonly minStallMs: number;
  private readonly timer: NodeJS.Timeout;
  private readonly offs: Array<() => void>;
  private lastResync = -Infinity;
  private resyncTimer: unknown = undefined;

  constructor(o: ClusterBreakerOptions) {
    this.bus = o.bus;
    this.peers = o.peers;
    this.log = o.logger;
    this.clock = o.clock ?? realClock;
    this.minStallMs = o.minStallMs ?? 10_000;
    this.offs = [
      this.bus.subscribe(TOPICS.breaker, (data, from) => this.receive(data, from)),
      this.bus.onStatus((up) => { if (up) this.resync(); }),
    ];
    // A peer that comes back may have missed transitions: tell it (at most every 200 ms).
    if (o.peers.onJoin) this.offs.push(o.peers.onJoin(() => this.resync(200)));
    this.timer = setInterval(() => this.tick(), o.tickMs ?? 250);
    this.timer.unref();
  }

  get self(): string { return this.bus.id; }

  create(key: BreakerKey, settings: BreakerSettings, onChange: BreakerListener): BreakerState {
    const k = `${key.upstream}\n${key.target}`;
    let r = this.records.get(k);
    if (!r) {
      r = { key: k, upstream: key.upstream, target: key.target, phase: CLOSED, gen: 0, origin: '', owner: '', until: 0, since: this.clock.now(), members: new Set() };
      this.records.set(k, r);
    }
    const b = new ClusterBreaker(this, r, settings, onChange, this.clock);
    r.members.add(b);
    // A key the cluster has open (a reload re-created the target) starts in that state.
    if (r.phase === OPEN) b.enter(OPEN, r.until - this.clock.now(), false, false);
    else if (r.phase === HALF_OPEN) b.enter(HALF_OPEN, 0, this.mayProbe(r), false);
    return b;
  }

  decide(b: ClusterBreaker, to: typeof OPEN | typeof CLOSED): void {
    const r = b.rec;
    const now = this.clock.now();
    r.gen++;
    r.origin = this.self;
    r.phase = to;
    r.since = now;
    const openMs = b.settings.openForMs;
    if (to === OPEN) { r.owner = this.self; r.until = now + openMs; }
    for (const m of [...r.members]) m.enter(to, openMs, false);
    this.publish(r);
  }

  openEnded(b: ClusterBreaker): void {
    const r = b.rec;
    const now = this.clock.now();
    if (r.phase !== OPEN) { b.enter(r.phase, 0, r.phase === HALF_OPEN && this.mayProbe(r)); return; }
    if (now < r.until - 1) { b.enter(OPEN, r.until - now, false); return; } // a newer open arrived meanwhile
    r.phase = HALF_OPEN;
    r.since = now;
    const prober = this.mayProbe(r);
    if (prober && r.owner !== this.self) this.takeOver(r, 'the owner is not heard on the bus');
    else for (const m of [...r.members]) m.enter(HALF_OPEN, 0, prober);
  }

  close(): void {
    clearInterval(this.timer);
    if (this.resyncTimer !== undefined) this.clock.clearTimeout(this.resyncTimer);
    for (const off of this.offs.splice(0)) off();
    for (const r of this.records.values()) for (const m of [...r.members]) m.dispose();
    this.records.clear();
  }

  /** Apply another node's transition (public for tests). */
  receive(data: Uint8Array, from: string): void {
    const m = decodeJson(data);
    if (!isBreakerMessage(m)) return;
    this.received++;
    const k = `${m.k[0]}\n${m.k[1]}`;
    const now = this.clock.now();
    let r = this.records.get(k);
    if (!r) {
      if (m.p === CLOSED) return; // nothing to remember about a closed breaker nobody here uses
      r = { key: k, upstream: m.k[0], target: m.k[1], phase: CLOSED, gen: 0, origin: '', owner: '', until: 0, since: now, members: new Set() };
      this.records.set(k, r);
    }
    if (!newer(m.g, m.o, r.gen, r.origin)) {
      // A node resyncing with an older state: tell it the newer one.
      if (m.s === 1 && newer(r.gen, r.origin, m.g, m.o)) this.publish(r);
      return;
    }
    r.gen = m.g;
    r.origin = m.o;
    r.phase = m.p;
    r.owner = m.w;
    r.since = now;
    if (m.p === OPEN) r.until = now + Math.max(0, m.r);
    this.log?.debug({ upstream: r.upstream, target: r.target, to: PHASE_NAMES[m.p], from, owner: m.w }, 'circuit breaker state from the cluster');
    const prober = m.p === HALF_OPEN && m.w === this.self;
    for (const b of [...r.members]) b.enter(m.p, m.r, prober);
  }

  /** Takeovers and cleanup (the timer calls it; public for tests). */
  tick(): void {
    const now = this.clock.now();
    for (const [k, r] of this.records) {
      if (!r.members.size) {
        const idle = r.phase === CLOSED || (r.phase === OPEN ? now > r.until + KEEP_UNUSED_MS : now - r.since > KEEP_UNUSED_MS);
        if (idle) this.records.delete(k);
        continue;
      }
      if (r.phase !== HALF_OPEN || r.owner === this.self) continue;
      if (this.mayProbe(r)) { this.takeOver(r, this.bus.connected ? 'the owner is not heard on the bus' : 'bus down: probing locally'); continue; }
      const openFor = [...r.members][0]!.settings.openForMs;
      if (now - r.since > Math.max(2 * openFor, this.minStallMs) && this.choose(r, r.owner) === this.self) this.takeOver(r, 'no verdict from the owner');
    }
  }

  /** May this node probe the half-open key now? */
  private mayProbe(r: KeyRecord): boolean {
    if (!this.bus.connected) return true; // on our own until the bus is back
    if (r.owner === this.self) return true;
    if (r.owner !== '' && this.peers.alive(r.owner)) return false;
    return this.choose(r, r.owner) === this.self;
  }

  /** The rendezvous choice among the live nodes (this one included), leaving out `except`. */
  private choose(r: KeyRecord, except: string): string | undefined {
    const ids = this.peers.peers().filter((id) => id !== except);
    if (this.self !== except) ids.push(this.self);
    return rendezvous(r.key, ids);
  }

  private takeOver(r: KeyRecord, why: string): void {
    const prev = r.owner;
    r.phase = HALF_OPEN;
    r.owner = this.self;
    r.gen++;
    r.origin = this.self;
    r.since = this.clock.now();
    if (prev !== '' && prev !== this.self) this.log?.info({ upstream: r.upstream, target: r.target, previousOwner: prev, why }, 'circuit breaker half-open: this node takes over the probes');
    for (const m of [...r.members]) m.enter(HALF_OPEN, 0, true);
    this.publish(r);
  }

  private publish(r: KeyRecord, sync = false): void {
    const msg: BreakerMessage = {
      k: [r.upstream, r.target], p: r.phase, g: r.gen, o: r.origin, w: r.owner,
      r: r.phase === OPEN ? Math.max(0, Math.round(r.until - this.clock.now())) : 0,
      ...(sync ? { s: 1 as const } : {}),
    };
    if (this.bus.publish(TOPICS.breaker, encodeJson(msg))) this.sent++;
  }

  /** After a (re)connect or a peer's return: re-send every key that is not closed, so peers that missed it learn. */
  private resync(minGapMs = 0): void {
    const now = this.clock.now();
    const wait = this.lastResync + minGapMs - now;
    if (wait > 0) {
      // Several peers returning together (NATS restarted): one resync now, one after the gap.
      this.resyncTimer ??= this.clock.setTimeout(() => { this.resyncTimer = undefined; this.resync(); }, wait);
      return;
    }
    this.lastResync = now;
    for (const r of this.records.values()) if (r.phase !== CLOSED && r.gen > 0) this.publish(r, true);
  }
}
