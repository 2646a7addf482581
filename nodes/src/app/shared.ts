/**
 * The state a cluster node shares over NATS (node.cluster.nats), wired in one place so that
 * node.ts only creates it, attaches it to the gateway and stops it:
 *  - the bus (bus/nats/) and the peer view (bus/peers.ts, with the live members from etcd);
 *  - `services.clusterCounters`: the counter store of `rate-limit` with `scope: cluster`;
 *  - `services.breakerStore`: the breaker store of `circuitBreaker.scope: cluster`;
 *  - cache purges broadcast to every node (policies/cache/cluster-purge.ts);
 *  - the metrics gatehouse_cluster_degraded{component}, gatehouse_cluster_bus_connected and
 *    gatehouse_cluster_peers, and a `nats` section in GET /cluster.
 * Nothing here is on the request path except the stores' synchronous calls.
 */
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import type { Gateway } from '../gateway.ts';
import { cacheStore } from '../policies/cache/index.ts';
import { ClusterBreakerStore } from '../upstream/breaker/cluster/index.ts';
import { NatsBus, namespaceOf } from '../cluster/bus/nats/index.ts';
import { ClusterPeers } from '../cluster/bus/peers.ts';
import { ClusterCounterStore } from '../cluster/counters/nats/index.ts';
import type { NodeServices } from '../request/services.ts';
import { shareCachePurges } from '../policies/cache/cluster-purge.ts';
import { LiveNodes } from '../cluster/live-nodes.ts';

export interface SharedStateOptions {
  servers: string[];
  id: string;
  /** The etcd prefix: names the NATS subjects, and where the live members are listed. */
  prefix: string;
  client: Etcd3;
  logger: Logger;
  /** The gateway's services: the stores are registered here. */
  services: NodeServices;
}

export class SharedState {
  readonly bus: NatsBus;
  readonly peers: ClusterPeers;
  readonly members: LiveNodes;
  counters: ClusterCounterStore | undefined;
  breakers: ClusterBreakerStore | undefined;
  private readonly logger: Logger;
  private readonly services: NodeServices;
  private unshare: (() => void) | undefined;

  constructor(o: SharedStateOptions) {
    this.logger = o.logger;
    this.services = o.services;
    this.bus = new NatsBus({ servers: o.servers, id: o.id, namespace: namespaceOf(o.prefix), logger: o.logger });
    this.members = new LiveNodes(o.client, o.prefix, o.logger);
    this.peers = new ClusterPeers({ bus: this.bus, members: this.members });
  }

  /**
   * Connect, waiting up to `ms` for NATS (it keeps trying in the background after that), then
   * register the stores in services. Call before the gateway compiles its first config. The
   * stores are made after the wait so that a normal start is not reported as degraded.
   * Resolves to whether NATS answered.
   */
  async start(ms: number): Promise<boolean> {
    this.bus.start();
    this.members.start();
    this.peers.start();
    const up = await this.bus.ready(ms);
    const logger = this.logger.child({ component: 'cluster-state' });
    this.counters = new ClusterCounterStore({ bus: this.bus, peers: this.peers, logger });
    this.breakers = new ClusterBreakerStore({ bus: this.bus, peers: this.peers, logger });
    this.services.clusterCounters = this.counters;
    this.services.breakerStore = this.breakers;
    return up;
  }

  /** Once the gateway exists: metrics, and cache purges shared with the other nodes. */
  attach(gw: Gateway): void {
    const { bus, peers } = this;
    const counters = this.counters;
    gw.metrics.gauge('gatehouse_cluster_degraded', 'Shared state that works per node for now (NATS unreachable, or peers not heard): 1 = degraded. component: rate-limit (limits shrink to this node\'s share), circuit-breaker and cache (transitions and purges stay on this node).', ['component'], function () {
      this.set({ component: 'rate-limit' }, counters?.degraded ? 1 : 0);
      this.set({ component: 'circuit-breaker' }, bus.connected ? 0 : 1);
      this.set({ component: 'cache' }, bus.connected ? 0 : 1);
    });
    gw.metrics.gauge('gatehouse_cluster_bus_connected', 'Connected to the cluster bus (NATS): 1 or 0.', [], function () { this.set(bus.connected ? 1 : 0); });
    gw.metrics.gauge('gatehouse_cluster_peers', 'Other nodes heard on the cluster bus within the heartbeat timeout.', [], function () { this.set(peers.peers().length); });
    const store = cacheStore({ services: this.services, metrics: gw.metrics });
    this.unshare = shareCachePurges(bus, store, this.logger.child({ component: 'cluster-state' }));
  }

  /** For GET /cluster. */
  describe(): Record<string, unknown> {
    const v = this.peers.view();
    return {
      connected: this.bus.connected,
      reconnects: this.bus.reconnects,
      peers: this.peers.peers(),
      members: this.members.ids() ? [...this.members.ids()!].sort() : null,
      rateLimit: this.counters ? { degraded: this.counters.degraded, share: this.counters.share, nodes: v.total, heard: v.group - 1, batchesSent: this.counters.sent, batchesReceived: this.counters.received, leaseRefusals: this.counters.leaseRefusals } : null,
      breakers: this.breakers ? { transitionsSent: this.breakers.sent, transitionsReceived: this.breakers.received, keys: this.breakers.records.size } : null,
    };
  }

  async stop(): Promise<void> {
    this.unshare?.();
    this.counters?.close();
    this.breakers?.close();
    this.peers.close();
    await Promise.all([this.members.stop(), this.bus.close()]);
  }
}
