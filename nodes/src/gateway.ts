/**
 * One gateway process: the proxy server, the status server and the config loop. A config
 * update is validated and compiled off the request path, then swapped in by one
 * assignment; requests already running keep the snapshot they started with. A bad update
 * is refused with every error logged and counted, and the running snapshot stays.
 */
import http from 'node:http';
import { resolve as resolvePath } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { NodeSettings, GatewayConfig } from './schema/model.ts';
import { parseDuration, parseSize } from './schema/duration.ts';
import { formatErrors, type ConfigError } from './schema/validate.ts';
import { validateConfig } from './validation/validate.ts';
import type { ConfigSource, ConfigUpdate } from './config/source.ts';
import { carryOver, compileSnapshot } from './pipeline/compile.ts';
import type { Snapshot } from './request/route.ts';
import { createHandler } from './pipeline/handler.ts';
import type { Runtime } from './pipeline/runtime.ts';
import { Metrics } from './telemetry/metrics.ts';
import { AccessLogger } from './pipeline/access-log.ts';
import { TrustedProxies } from './http/client-ip.ts';
import { PoolRegistry } from './upstream/target.ts';
import type { Pool } from 'undici';
import { chooseUpstreamClient, UPSTREAM_CLIENT_ENV } from './upstream/client-choice.ts';
import { onClientError, onConnectMethod } from './http/client-error.ts';
import { SendDeadlines } from './http/send-deadline.ts';
import { createStatusServer, type StatusRoute } from './telemetry/status.ts';
import { StatusWriteGate } from './telemetry/status-auth.ts';
import type { NodeServices } from './request/services.ts';
import { swapUpstreams } from './upstream/lifecycle.ts';
import { upstreamsStatus } from './upstream/status.ts';
import { Listeners } from './listeners/index.ts';
import { startTracing, type Tracing } from './pipeline/tracing-setup.ts';
import { registerOperatorMetrics } from './pipeline/operator-metrics.ts';

export interface GatewayOptions {
  node: NodeSettings;
  source: ConfigSource;
  logger: Logger;
  baseDir: string;
  /** Shared services for policies (counter store, breaker state, ...). */
  services?: NodeServices;
  /** Use SO_REUSEPORT so sibling worker processes share the port (kernel balancing). */
  reusePort?: boolean;
  /**
   * Where the status server listens instead of node.status. A worker of a multi-worker node
   * uses a private loopback port ('127.0.0.1:0'); the primary serves node.status (workers/).
   */
  statusListen?: string;
  accessLogDestination?: import('./pipeline/access-log.ts').LineSink;
}

export const DEFAULTS = {
  listen: '127.0.0.1:8080',
  status: '127.0.0.1:9080',
  maxHeaderSize: 16 * 1024,
  maxBodySize: '10mb',
  requestTimeout: '60s',
  headersTimeout: '10s',
  keepAliveTimeout: '5s',
  drainTimeout: '15s',
  sendTimeout: '60s',
  proxyBuffer: '64kb',
} as const;

export function splitHostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(s.slice(i + 1)) };
}

export class Gateway {
  readonly rt: Runtime;
  readonly metrics: Metrics;
  readonly statusRoutes = new Map<string, StatusRoute>();
  private readonly opts: GatewayOptions;
  /** One object for the gateway's life: state policies keep there (rate-limit counts) survives reloads. */
  private readonly services: NodeServices;
  private readonly pools: PoolRegistry;
  private proxy: http.Server | undefined;
  private status: http.Server | undefined;
  /** TLS and HTTP/2 listeners around `proxy` (listeners/). */
  private listeners: Listeners | undefined;
  private lastErrors: ConfigError[] = [];
  /** The running config came from an update whose source keeps item identity (ConfigUpdate.stable). */
  private lastStable = false;
  private firstLoad: (() => void) | undefined;
  private readonly flushTimer: NodeJS.Timeout | undefined;
  readonly tracing: Tracing | undefined;

  constructor(opts: GatewayOptions) {
    this.opts = opts;
    this.services = opts.services ?? {};
    this.metrics = new Metrics();
    const n = opts.node;
    // Read once: a config reload never switches the upstream client under running requests.
    this.pools = new PoolRegistry(chooseUpstreamClient(n.upstreamClient, process.env[UPSTREAM_CLIENT_ENV]));
    this.tracing = startTracing(n.tracing, this.metrics, n.cluster?.id);
    this.rt = {
      snapshot: undefined,
      trusted: new TrustedProxies(n.trustedProxies ?? []),
      maxBodySize: parseSize(n.limits?.maxBodySize ?? DEFAULTS.maxBodySize),
      trustRequestId: n.trustRequestId !== false,
      allowSemicolon: n.paths?.allowSemicolon === true,
      proxyBuffer: parseSize(n.limits?.proxyBuffer ?? DEFAULTS.proxyBuffer),
      sends: new SendDeadlines(parseDuration(n.limits?.sendTimeout ?? DEFAULTS.sendTimeout)),
      metrics: this.metrics,
      logger: opts.logger,
      accessLog: new AccessLogger(accessLogOptions(n, opts.baseDir), opts.accessLogDestination),
      draining: false,
      inflight: 0,
      ...(this.tracing ? { tracing: this.tracing.requests } : {}),
    };
    this.flushTimer = this.rt.accessLog.startFlushing();
    registerOperatorMetrics(this.metrics, this.rt.accessLog, this.rt.tracing);
    const rt = this.rt;
    this.metrics.inflightSource = () => rt.inflight;
    const sends = rt.sends;
    this.metrics.gauge('gatehouse_client_send_stalled', 'Client connections behind on their response right now (writes waiting).', [], function () { this.set(sends.size); });
    this.metrics.gauge('gatehouse_client_send_timeouts', 'Client connections closed since start because their response made no write progress for node.limits.sendTimeout.', [], function () { this.set(sends.timeouts); });
    this.metrics.gauge('gatehouse_proxy_buffered_responses', 'Responses the upstream finished while their client was still behind (node.limits.proxyBuffer held the rest): upstream connections freed early.', [], function () { this.set(sends.buffered); });
    this.statusRoutes.set('/upstreams', (_req, res) => upstreamsStatus(res, this.rt.snapshot));
    // Policies add status endpoints through services (the cache's /cache/purge, policies/cache/services.ts).
    this.services.statusRoutes = this.statusRoutes;
    // Who may change state through the status port (cache purges): loopback, or node.purgeToken.
    this.services.statusWriteGate = new StatusWriteGate(n.purgeToken);
  }

  get snapshot(): Snapshot | undefined { return this.rt.snapshot; }
  get configErrors(): readonly ConfigError[] { return this.lastErrors; }

  /** Validate + compile + swap. Returns the errors (empty when applied). */
  apply(u: ConfigUpdate, sourceKind = this.opts.source.kind): ConfigError[] {
    const log = this.opts.logger;
    let errs: ConfigError[];
    errs = u.error ? [{ path: '(file)', message: u.error }] : [];
    // Unchanged items become the running config's objects first, so validation (kept per
    // item object) and compile re-check only what changed.
    // A stable source did this already, unless the running config came from elsewhere (a
    // YAML read, the snapshot file), which the first stable update still has to be matched to.
    const stable = u.stable === true && this.lastStable;
    const config = u.error ? undefined : stable ? u.config as GatewayConfig : carryOver(u.config as GatewayConfig, this.rt.snapshot?.config);
    const t0 = performance.now();
    if (config) errs = validateConfig({ ...config, node: this.opts.node }, this.opts.baseDir);
    const t1 = performance.now();
    let snap: Snapshot | undefined;
    if (config && !errs.length) {
      try {
        snap = compileSnapshot(config, u.revision, {
          logger: log, metrics: this.metrics, pools: this.pools, baseDir: this.opts.baseDir,
          services: this.services, previous: this.rt.snapshot, carried: true,
        });
      } catch (err) {
        errs = [{ path: '(compile)', message: (err as Error).message }];
      }
    }
    if (!snap) {
      this.lastErrors = errs;
      this.metrics.configReloads.labels(sourceKind, 'rejected').inc();
      log.error({ revision: u.revision, errors: errs.map((e) => `${e.path}: ${e.message}`) }, this.rt.snapshot ? 'config rejected; still serving the previous one' : 'config rejected; no config to serve');
      return errs;
    }
    const t2 = performance.now();
    const old = this.rt.snapshot;
    this.rt.snapshot = snap;
    // node.tracing.sampleRatio is the one node setting a reload changes (file source only).
    const ratio = u.node?.tracing?.sampleRatio;
    if (this.tracing && typeof ratio === 'number' && ratio >= 0 && ratio <= 1) this.tracing.requests.ratio = ratio;
    // Health checks and breakers run for the runtimes this snapshot uses, and only those.
    swapUpstreams(old?.upstreams.values(), snap.upstreams.values());
    this.lastErrors = [];
    this.lastStable = u.stable === true;
    this.metrics.configReloads.labels(sourceKind, 'applied').inc();
    this.metrics.configRevision.set(u.revision);
    this.metrics.routes.retain(snap.routes);
    const inUse = new Set<Pool>();
    for (const up of snap.upstreams.values()) for (const t of up.targets) inUse.add(t.pool);
    this.pools.retain(inUse);
    // In-flight requests keep what they use; the timer keeps only the close (see compile.ts).
    if (old) { const close = old.close; setTimeout(() => { void close(); }, 30_000).unref(); }
    // What the operator needs when an edit is slow to show: where this node spent it.
    const ms = (x: number): number => Math.round(x * 10) / 10;
    log.info({ revision: u.revision, routes: snap.routes.size, upstreams: snap.upstreams.size, ...(u.readMs !== undefined ? { readMs: ms(u.readMs) } : {}), validateMs: ms(t1 - t0), compileMs: ms(t2 - t1), swapMs: ms(performance.now() - t2) }, 'config applied');
    this.firstLoad?.();
    return [];
  }

  async start(): Promise<{ proxy: AddressInfo; status: AddressInfo; tls?: AddressInfo }> {
    const n = this.opts.node;
    const loaded = new Promise<void>((r) => { this.firstLoad = r; });
    await this.opts.source.start((u) => { this.apply(u); });
    // A standalone node with a bad file still starts (readyz says 503) so the error is visible.
    void loaded;
    const handler = createHandler(this.rt);
    const proxy = http.createServer({
      maxHeaderSize: n.limits?.maxHeaderSize ?? DEFAULTS.maxHeaderSize,
      requestTimeout: parseDuration(n.limits?.requestTimeout ?? DEFAULTS.requestTimeout),
      headersTimeout: parseDuration(n.limits?.headersTimeout ?? DEFAULTS.headersTimeout),
      keepAliveTimeout: parseDuration(n.limits?.keepAliveTimeout ?? DEFAULTS.keepAliveTimeout),
      requireHostHeader: false, // checked in the handler, answered as problem+json
      joinDuplicateHeaders: false,
      insecureHTTPParser: false,
      connectionsCheckingInterval: 1000,
      // A request without Content-Length or Transfer-Encoding has no body: Node hands it over
      // already ended instead of running stream events for nothing (Node >= 24.12).
      optimizeEmptyRequests: true,
    }, handler);
    if (n.limits?.maxRequestsPerSocket) proxy.maxRequestsPerSocket = n.limits.maxRequestsPerSocket;
    proxy.on('clientError', onClientError);
    proxy.on('connect', onConnectMethod);
    this.proxy = proxy;
    this.listeners = new Listeners(n, this.opts.baseDir, this.opts.logger, this.metrics);
    this.listeners.attach(proxy, handler, n.limits?.maxHeaderSize ?? DEFAULTS.maxHeaderSize, parseDuration(n.limits?.headersTimeout ?? DEFAULTS.headersTimeout));
    const tlsAddr = await this.listeners.start(proxy, this.opts.reusePort);
    this.status = createStatusServer(this, this.statusRoutes);
    const p = await listen(proxy, n.listen ?? DEFAULTS.listen, this.opts.reusePort);
    const statusListen = this.opts.statusListen;
    // A worker's private status port is its own (exclusive): node:cluster would otherwise
    // share one handle, and one port, among all the workers asking for port 0.
    const s = statusListen === undefined
      ? await listen(this.status, n.status ?? DEFAULTS.status, this.opts.reusePort)
      : await listen(this.status, statusListen, false, true);
    this.opts.logger.info({ proxy: `${p.address}:${p.port}`, status: `${s.address}:${s.port}`, upstreamClient: this.pools.client }, 'gateway listening');
    return tlsAddr ? { proxy: p, status: s, tls: tlsAddr } : { proxy: p, status: s };
  }

  get ready(): boolean { return !!this.rt.snapshot && !this.rt.draining; }
  get readyWithoutRoutes(): boolean { return this.opts.node.readyWithoutRoutes === true; }

  /**
   * Graceful stop: refuse new connections, answer /readyz 503, tell keep-alive clients to
   * close, let in-flight requests finish within the deadline, then cut what is left.
   */
  async shutdown(deadlineMs = parseDuration(this.opts.node.drainTimeout ?? DEFAULTS.drainTimeout)): Promise<void> {
    if (this.rt.draining) return;
    this.rt.draining = true;
    this.opts.logger.info({ inflight: this.rt.inflight }, 'draining');
    const proxy = this.proxy;
    const closed = proxy ? new Promise<void>((r) => proxy.close(() => r())) : Promise.resolve();
    const tlsClosed = this.listeners?.drain();
    proxy?.closeIdleConnections();
    const until = Date.now() + deadlineMs;
    while (this.rt.inflight > 0 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 20));
      proxy?.closeIdleConnections();
    }
    proxy?.closeAllConnections();
    this.listeners?.destroy();
    await closed;
    await tlsClosed;
    await this.opts.source.stop();
    swapUpstreams(this.rt.snapshot?.upstreams.values(), []);
    await new Promise<void>((r) => (this.status ? this.status.close(() => r()) : r()));
    this.status?.closeAllConnections();
    await this.rt.snapshot?.close();
    await this.pools.closeAll();
    clearInterval(this.flushTimer);
    this.rt.sends.close();
    this.rt.accessLog.close();
    await this.tracing?.shutdown();
    this.opts.logger.info('stopped');
  }

  describeErrors(): string { return formatErrors(this.lastErrors); }
}

function accessLogOptions(n: NodeSettings, baseDir: string): import('./pipeline/access-log.ts').AccessLogOptions {
  const a = n.log?.access;
  return {
    enabled: a?.enabled ?? true,
    sample: a?.sample ?? 1,
    ...(a?.file !== undefined ? { file: resolvePath(baseDir, a.file) } : {}),
    ...(a?.maxSize !== undefined ? { maxSize: parseSize(a.maxSize) } : {}),
    ...(a?.redactQuery !== undefined ? { redactQuery: a.redactQuery } : {}),
  };
}

function listen(server: http.Server, addr: string, reusePort = false, exclusive = reusePort): Promise<AddressInfo> {
  const { host, port } = splitHostPort(addr);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, reusePort, exclusive }, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}
