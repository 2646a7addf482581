/**
 * One gateway node with everything around the Gateway: the config source (the file when
 * standalone; etcd with the snapshot file as fallback in cluster mode), discovery, the
 * snapshot saver and cluster membership. main.ts only reads the file and calls startNode().
 *
 * After every applied config (same tick as the swap): discovery re-feeds new runtimes,
 * membership publishes the revision served, and the snapshot is saved (debounced).
 */
import { hostname } from 'node:os';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import cluster from 'node:cluster';
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import type { NodeSettings } from '../schema/model.ts';
import { parseDuration } from '../schema/duration.ts';
import { Gateway, splitHostPort } from '../gateway.ts';
import type { ConfigSource, ConfigUpdate } from '../config/source.ts';
import { FileSource } from '../config/file.ts';
import type { JsonItemReader } from '../config/json-items.ts';
import { EtcdSource } from '../config/etcd.ts';
import { createEtcdClient } from '../cluster/etcd-client.ts';
import { SnapshotFallbackSource, SnapshotSaver } from '../config/fallback.ts';
import type { Snapshot as FileSnapshot } from '../config/snapshot-file.ts';
import { Discovery } from '../discovery/manager.ts';
import type { DnsResolver } from '../discovery/dns.ts';
import { Membership } from '../cluster/membership.ts';
import { SharedState } from './shared.ts';
import type { NodeServices } from '../request/services.ts';
import { sendJson } from '../telemetry/status.ts';

export const DEFAULT_PREFIX = '/gatehouse';
/** How long a starting node waits for its discovery feeds' first answers before it listens. */
const DISCOVERY_WAIT_MS = 2000;
/** How long a starting node waits for NATS before it listens (degraded until NATS answers). */
const NATS_WAIT_MS = 1000;
/** How long shutdown waits for etcd to confirm the node key is gone. */
const LEAVE_TIMEOUT_MS = 1500;

export interface NodeOptions {
  node: NodeSettings;
  /** The config file: static `node` settings, and the dynamic config when standalone. */
  configFile: string;
  /** The reader that read the file at start (main.ts), so the file source does not parse it again. */
  configReader?: JsonItemReader;
  logger: Logger;
  reusePort?: boolean;
  /** See GatewayOptions.statusListen. */
  statusListen?: string;
  services?: NodeServices;
  /** DNS resolver for `discovery.dns` (tests); default node:dns with node.dns.servers. */
  resolver?: DnsResolver;
}

export interface RunningNode {
  gateway: Gateway;
  /** Cluster node id (undefined standalone). */
  id: string | undefined;
  proxyAddress: string;
  statusAddress: string;
  /** Graceful stop: leave the cluster, drain, stop the source and feeds, save the snapshot. */
  stop(): Promise<void>;
}

/** A source that runs `after` right after each update was handed to the gateway. */
class ObservedSource implements ConfigSource {
  readonly kind: string;
  readonly #inner: ConfigSource;
  readonly #after: (u: ConfigUpdate) => void;
  readonly #started: () => Promise<void>;
  constructor(inner: ConfigSource, after: (u: ConfigUpdate) => void, started: () => Promise<void>) {
    this.kind = inner.kind;
    this.#inner = inner;
    this.#after = after;
    this.#started = started;
  }
  async start(onUpdate: (u: ConfigUpdate) => void): Promise<void> {
    await this.#inner.start((u) => { onUpdate(u); this.#after(u); });
    await this.#started();
  }
  stop(): Promise<void> { return this.#inner.stop(); }
}

function version(): string {
  try {
    return String((JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? '0.0.0');
  } catch {
    return '0.0.0';
  }
}

/** The node id: node.cluster.id, or <hostname>-<pid>; a worker process appends -w<N>. */
export function nodeId(configured: string | undefined): string {
  const base = configured ?? `${hostname().replace(/[^A-Za-z0-9._-]/g, '-')}-${process.pid}`;
  return cluster.isWorker && cluster.worker ? `${base}-w${cluster.worker.id}` : base;
}

export async function startNode(o: NodeOptions): Promise<RunningNode> {
  const { node, logger } = o;
  const baseDir = dirname(resolve(o.configFile));
  const cl = node.cluster;
  let client: Etcd3 | undefined;
  let membership: Membership | undefined;
  let saver: SnapshotSaver | undefined;
  let fallback: SnapshotFallbackSource | undefined;
  let skipped: NonNullable<ConfigUpdate['skipped']> = [];
  let refused: { revision: number; errors: string[] } | undefined;
  let source: ConfigSource;
  const id = cl ? nodeId(cl.id) : undefined;
  const prefix = (cl?.etcd.prefix ?? DEFAULT_PREFIX).replace(/\/+$/, '') || DEFAULT_PREFIX;
  const snapshotPath = cl ? resolve(baseDir, cl.snapshot ?? `data/snapshot-${id}.json`) : undefined;

  if (cl && snapshotPath) {
    client = createEtcdClient(cl.etcd.endpoints);
    const etcd = new EtcdSource({
      endpoints: cl.etcd.endpoints, prefix, logger, client,
      startTimeout: parseDuration(cl.startTimeout ?? '3s'),
      onSkipped: () => skippedCounter(gw).inc(),
    });
    fallback = new SnapshotFallbackSource(etcd, snapshotPath, logger);
    source = fallback;
    saver = new SnapshotSaver({ path: snapshotPath, logger, current: () => savedConfig(gw) });
  } else {
    source = new FileSource(resolve(o.configFile), o.configReader);
  }

  // Shared state over NATS (rate limits, breakers, cache purges): the stores go into services
  // before the first config is compiled, so `scope: cluster` finds them from the start.
  const services = o.services ?? {};
  const shared = cl?.nats && client && id ? new SharedState({ servers: cl.nats.servers, id, prefix, client, logger, services }) : undefined;
  await shared?.start(NATS_WAIT_MS);

  const discovery: Discovery = new Discovery({
    logger,
    upstreams: () => gw.snapshot?.upstreams,
    registry: client ? { client, prefix } : undefined,
    dnsServers: node.dns?.servers,
    ...(o.resolver ? { resolver: o.resolver } : {}),
    onChange: () => saver?.schedule(),
  });

  // Closures above read `gw` only once updates flow, i.e. after it is constructed.
  const after = (u: ConfigUpdate): void => {
    const served = gw.snapshot;
    if (!served || served.revision !== u.revision) {
      // Rejected: the previous config stays; membership tells the control plane why.
      refused = { revision: u.revision, errors: gw.configErrors.map((e) => `${e.path}: ${e.message}`) };
      membership?.setRefused(refused.revision, refused.errors);
      return;
    }
    skipped = u.skipped ?? [];
    discovery.sync();
    membership?.setServed(served.revision, skipped);
    if (fallback?.origin === 'etcd') saver?.schedule();
  };
  // Before listening, give discovery a moment for first answers; not when serving the snapshot:
  // etcd is down then, and the snapshot holds the targets discovery last found.
  const observed: ObservedSource = new ObservedSource(source, after, () => discovery.settled(fallback?.origin === 'snapshot' ? 0 : DISCOVERY_WAIT_MS));
  const gw: Gateway = new Gateway({ node, source: observed, logger, baseDir, reusePort: o.reusePort ?? false, ...(o.statusListen ? { statusListen: o.statusListen } : {}), services });
  const gateway = gw;
  if (cl) skippedCounter(gw); // registered up front so it reads 0, not absent
  shared?.attach(gw);

  let addrs: Awaited<ReturnType<Gateway['start']>>;
  try {
    addrs = await gateway.start();
  } catch (err) {
    await discovery.stop();
    await source.stop().catch(() => undefined);
    await shared?.stop();
    client?.close();
    throw err;
  }
  const proxyAddress = publicAddress(node.listen ?? '127.0.0.1:8080', addrs.proxy.port);
  const statusAddress = `${addrs.status.address}:${addrs.status.port}`;

  if (cl && client && id) {
    membership = new Membership({
      client, prefix, id, address: proxyAddress, version: version(), logger,
      ttl: Math.max(1, Math.round(parseDuration(cl.leaseTtl ?? '10s') / 1000)),
      statusAddress,
      probe: { nats: () => (shared ? shared.bus.connected : undefined), configFrom: () => fallback?.origin },
    });
    membership.setServed(gateway.snapshot?.revision ?? 0, skipped);
    if (refused) membership.setRefused(refused.revision, refused.errors);
    membership.start().then(
      () => logger.info({ id, key: membership?.key }, 'joined the cluster'),
      (err: Error) => logger.warn({ err: err.message }, 'membership not registered yet; still trying'),
    );
  }

  gateway.statusRoutes.set('/cluster', (_req, res) => {
    sendJson(res, 200, {
      mode: cl ? 'cluster' : 'standalone',
      id: id ?? null,
      prefix: cl ? prefix : null,
      revision: gateway.snapshot?.revision ?? null,
      configFrom: fallback ? fallback.origin : 'file',
      // configFrom says where the served config came from; these say what answers now.
      connected: cl ? { etcd: membership?.etcdConnected ?? false, etcdLastSeen: membership?.etcdLastSeen ?? null, nats: shared ? shared.bus.connected : null } : null,
      snapshot: snapshotPath ? { path: snapshotPath, savedRevision: saver?.savedRevision ?? 0, writes: saver?.writes ?? 0 } : null,
      membership: membership ? { key: membership.key, leaseId: membership.leaseId ?? null } : null,
      skippedKeys: skipped,
      discovery: discovery.describe(),
      nats: shared?.describe() ?? null,
    });
  });

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      // Leave the member list at once (lease revoked) while in-flight requests drain. With etcd
      // down the revoke cannot land: give up after LEAVE_TIMEOUT_MS, the lease then expires.
      let timer: NodeJS.Timeout | undefined;
      const leave = membership && Promise.race([
        membership.stop().catch((err: Error) => logger.warn({ err: err.message }, 'leaving the cluster failed; the node key expires with its lease')),
        new Promise<void>((r) => { timer = setTimeout(r, LEAVE_TIMEOUT_MS); }),
      ]).finally(() => clearTimeout(timer));
      await Promise.all([leave, gateway.shutdown()]);
      await discovery.stop();
      await shared?.stop();
      await saver?.flush();
      client?.close();
    })();
    return stopping;
  };
  return { gateway, id, proxyAddress, statusAddress, stop };
}

const skippedCounter = (gw: Gateway) => gw.metrics.counter('gatehouse_config_keys_skipped_total', 'etcd config keys skipped because they failed validation (each time a bad value is seen).', []);

/** host:port others can reach: the listen address, with a wildcard host replaced by the hostname. */
function publicAddress(listen: string, port: number): string {
  const { host } = splitHostPort(listen);
  const h = host === '0.0.0.0' || host === '::' || host === '' ? hostname() : host;
  return `${h.includes(':') ? `[${h}]` : h}:${port}`;
}

/**
 * The config to save: what is served, with the targets discovery found written into
 * `targets` of discovered upstreams, so a node restarted during an etcd outage still has them.
 */
function savedConfig(gw: Gateway): FileSnapshot | undefined {
  const snap = gw.snapshot;
  if (!snap) return undefined;
  const { node: _node, ...dynamic } = snap.config as typeof snap.config & { node?: unknown };
  // The served config's objects as they are (they are only serialised), except discovered
  // upstreams, which are saved with the targets discovery last found: copies of those alone.
  const config = { ...dynamic } as FileSnapshot['config'];
  let upstreams: NonNullable<FileSnapshot['config']['upstreams']> | undefined;
  for (const [name, rt] of snap.upstreams) {
    const up = config.upstreams?.[name];
    if (!up?.discovery || !rt.targets.length) continue;
    upstreams ??= { ...config.upstreams };
    upstreams[name] = { ...up, targets: rt.targets.map((t) => ({ url: t.url, weight: t.weight })) };
  }
  if (upstreams) config.upstreams = upstreams;
  return { config, revision: snap.revision };
}
