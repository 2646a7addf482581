/**
 * The cluster bus inside one process: a hub that several MemoryBus endpoints join. For unit
 * tests of what runs on the bus (shared counters, breakers, purges), with the failures a real
 * bus has: an endpoint can be disconnected, and the hub can be split into partitions.
 * Delivery is asynchronous (a microtask), like a network, so a handler never runs inside the
 * sender's publish(); `settle()` waits until everything sent has been delivered.
 */
import { notify, type BusHandler, type ClusterBus, type StatusListener } from '../types.ts';

export class MemoryHub {
  readonly buses = new Map<string, MemoryBus>();
  /** Messages delivered so far (all topics). */
  delivered = 0;
  private inFlight = 0;
  private idle: Array<() => void> = [];
  /** Partition of each id (same number = can talk); absent = 0. */
  private readonly part = new Map<string, number>();

  bus(id: string): MemoryBus {
    if (this.buses.has(id)) throw new Error(`bus ${id} already joined`);
    const b = new MemoryBus(this, id);
    this.buses.set(id, b);
    return b;
  }

  /** Split the hub: each list is a partition that hears only itself. `heal()` joins them again. */
  partition(...groups: string[][]): void {
    this.part.clear();
    groups.forEach((g, i) => { for (const id of g) this.part.set(id, i + 1); });
  }

  heal(): void { this.part.clear(); }

  /** Resolves once every message sent so far (and any sent by their handlers) was delivered. */
  settle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((r) => this.idle.push(r));
  }

  /** Called by MemoryBus.publish. */
  send(from: MemoryBus, topic: string, data: Uint8Array): void {
    const p = this.part.get(from.id) ?? 0;
    for (const b of this.buses.values()) {
      if (b === from || !b.connected || (this.part.get(b.id) ?? 0) !== p) continue;
      const copy = data.slice(); // what the wire does: no shared buffers between nodes
      this.inFlight++;
      queueMicrotask(() => {
        try {
          if (b.connected) { this.delivered++; b.deliver(topic, copy, from.id); }
        } finally {
          if (--this.inFlight === 0) for (const r of this.idle.splice(0)) r();
        }
      });
    }
  }

  leave(b: MemoryBus): void { if (this.buses.get(b.id) === b) this.buses.delete(b.id); }
}

export class MemoryBus implements ClusterBus {
  readonly kind = 'memory';
  readonly id: string;
  connected = true;
  private readonly hub: MemoryHub;
  private readonly topics = new Map<string, Set<BusHandler>>();
  private readonly listeners = new Set<StatusListener>();

  constructor(hub: MemoryHub, id: string) {
    this.hub = hub;
    this.id = id;
  }

  publish(topic: string, data: Uint8Array): boolean {
    if (!this.connected) return false;
    this.hub.send(this, topic, data);
    return true;
  }

  subscribe(topic: string, handler: BusHandler): () => void {
    let s = this.topics.get(topic);
    if (!s) { s = new Set(); this.topics.set(topic, s); }
    s.add(handler);
    return () => { s.delete(handler); };
  }

  onStatus(fn: StatusListener): () => void {
    this.listeners.add(fn);
    return () => { this.listeners.delete(fn); };
  }

  /** Simulate losing (false) or regaining (true) the connection. */
  setConnected(up: boolean): void {
    if (this.connected === up) return;
    this.connected = up;
    notify(this.listeners, up);
  }

  deliver(topic: string, data: Uint8Array, from: string): void {
    const s = this.topics.get(topic);
    if (s) notify(s, data, from);
  }

  close(): Promise<void> {
    this.setConnected(false);
    this.hub.leave(this);
    return Promise.resolve();
  }
}
