/**
 * `GET /v1/status`: etcd's revision, the config revision (the newest change to routes,
 * upstreams or consumers) and every node listed under `<prefix>/nodes/` (contract: membership
 * keys under a lease) with the config revision it serves. A node serving less than the
 * config revision has not applied the latest change yet: `behind`.
 *
 * Liveness comes from the heartbeat, not the lease: a killed node's lease lives on until its
 * TTL, but its heartbeat stops at once. A node whose latest heartbeat is older than 1.5 of
 * its heartbeat periods is `stale` (its key is still there, it is not live). The age is the
 * node's own clock against this process's, kept within what this process saw itself
 * (`Sightings`): a heartbeat value seen unchanged since time T is at least now - T old, and
 * one that changed since the previous look at time P is at most now - P old. So with
 * regular polls (status --watch, the dashboard, apply --wait) a skewed node clock neither
 * hides a dead node nor marks a live one stale; a single look relies on synchronised clocks.
 */
import type { ConfigStore, NodeEntry } from '../store/config-store.ts';
import type { HandlerContext, Reply } from './context.ts';

/** A heartbeat older than this many periods makes a node stale. */
export const STALE_PERIODS = 1.5;

export interface NodeStatus extends NodeEntry {
  behind: boolean;
  /** Age of the latest heartbeat in ms (null for a node that sends none). */
  lastSeenMs: number | null;
  stale: boolean;
}

/** Bounds on a heartbeat's age from what this process saw: [min, max] in ms. */
export type AgeBounds = (id: string, beat: string, now: number) => { min: number; max: number };

/** When this process first saw each node's current heartbeat value, and when it last looked. */
export class Sightings {
  readonly #seen = new Map<string, { beat: string; first: number; last: number }>();
  bounds: AgeBounds = (id, beat, now) => {
    const prev = this.#seen.get(id);
    if (prev && prev.beat === beat) { prev.last = now; return { min: now - prev.first, max: Infinity }; }
    this.#seen.set(id, { beat, first: now, last: now });
    if (this.#seen.size > 10_000) this.#seen.delete(this.#seen.keys().next().value!);
    return { min: 0, max: prev ? now - prev.last : Infinity };
  };
}

const sightings = new WeakMap<ConfigStore, Sightings>();
/** The sightings of one store (one per admin API). */
export function sightingsOf(store: ConfigStore): AgeBounds {
  let s = sightings.get(store);
  if (!s) { s = new Sightings(); sightings.set(store, s); }
  return s.bounds;
}

export function nodeStatus(n: NodeEntry, configRevision: number, now: number, bounds?: AgeBounds): NodeStatus {
  const beat = Date.parse(n.lastHeartbeat);
  let lastSeenMs: number | null = null;
  if (n.heartbeatMs > 0 && Number.isFinite(beat)) {
    const b = bounds?.(n.id, n.lastHeartbeat, now) ?? { min: 0, max: Infinity };
    lastSeenMs = Math.min(Math.max(now - beat, b.min, 0), Math.max(b.max, b.min));
  }
  return { ...n, behind: n.revision < configRevision, lastSeenMs, stale: lastSeenMs !== null && lastSeenMs > n.heartbeatMs * STALE_PERIODS };
}

export async function status(ctx: HandlerContext): Promise<Reply> {
  const [s, n] = await Promise.all([ctx.store.read(), ctx.store.nodes()]);
  const now = Date.now();
  const bounds = sightingsOf(ctx.store);
  const nodes = n.nodes.map((node) => nodeStatus(node, s.configRevision, now, bounds));
  return {
    status: 200,
    body: {
      revision: Math.max(s.revision, n.revision),
      configRevision: s.configRevision,
      prefix: ctx.store.prefix,
      time: new Date(now).toISOString(),
      nodes,
      behind: nodes.filter((x) => x.behind && !x.stale).length,
      stale: nodes.filter((x) => x.stale).length,
    },
  };
}
