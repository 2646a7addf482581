/**
 * `GET /v1/status`: etcd's revision, the config revision (the newest change to routes,
 * upstreams or consumers) and every node listed under `<prefix>/nodes/` (contract: membership
 * keys under a lease) with the config revision it serves. A node serving less than the
 * config revision has not applied the latest change yet: `behind`.
 *
 * Liveness comes from the heartbeat, not the lease: a killed node's lease lives on until its
 * TTL, but its heartbeat stops at once. A node whose latest heartbeat is older than 1.5 of
 * its heartbeat periods is `stale` (its key is still there, it is not live). The age uses
 * the node's own clock against this process's: nodes and the admin API need synchronised
 * clocks (NTP), as for any lease-free liveness signal.
 */
import type { NodeEntry } from '../store/config-store.ts';
import type { HandlerContext, Reply } from './context.ts';

/** A heartbeat older than this many periods makes a node stale. */
export const STALE_PERIODS = 1.5;

export interface NodeStatus extends NodeEntry {
  behind: boolean;
  /** Age of the latest heartbeat in ms (null for a node that sends none). */
  lastSeenMs: number | null;
  stale: boolean;
}

export function nodeStatus(n: NodeEntry, configRevision: number, now: number): NodeStatus {
  const beat = Date.parse(n.lastHeartbeat);
  const lastSeenMs = n.heartbeatMs > 0 && Number.isFinite(beat) ? Math.max(0, now - beat) : null;
  return { ...n, behind: n.revision < configRevision, lastSeenMs, stale: lastSeenMs !== null && lastSeenMs > n.heartbeatMs * STALE_PERIODS };
}

export async function status(ctx: HandlerContext): Promise<Reply> {
  const [s, n] = await Promise.all([ctx.store.read(), ctx.store.nodes()]);
  const now = Date.now();
  const nodes = n.nodes.map((node) => nodeStatus(node, s.configRevision, now));
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
