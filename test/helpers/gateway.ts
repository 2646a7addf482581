/**
 * Start a real gateway (in this process) on free ports from a config object, and stop it.
 * The config source is an in-memory one whose `push()` simulates a config change, so tests
 * exercise the same validate → compile → swap path as the file and etcd sources.
 */
import pino from 'pino';
import { Writable } from 'node:stream';
import { Gateway } from '../../nodes/src/gateway.ts';
import type { ConfigSource, ConfigUpdate } from '../../nodes/src/config/source.ts';
import type { GatewayConfig, NodeSettings } from '../../nodes/src/schema/model.ts';
import { freePort } from './ports.ts';

export class MemorySource implements ConfigSource {
  readonly kind = 'memory';
  private cb: ((u: ConfigUpdate) => void) | undefined;
  private rev = 0;
  private readonly initial: Omit<GatewayConfig, 'node'>;
  constructor(initial: Omit<GatewayConfig, 'node'>) { this.initial = initial; }
  async start(cb: (u: ConfigUpdate) => void): Promise<void> { this.cb = cb; this.push(this.initial); }
  push(config: unknown): void { this.cb?.({ config: config as Omit<GatewayConfig, 'node'>, revision: ++this.rev }); }
  async stop(): Promise<void> { this.cb = undefined; }
}

export interface TestGateway {
  gw: Gateway;
  source: MemorySource;
  url: string;
  statusUrl: string;
  port: number;
  /** Access log lines written so far (parsed JSON). */
  accessLog: Array<Record<string, unknown>>;
  /** Apply a new config; returns the validation errors (empty when applied). */
  push(config: unknown): void;
  stop(): Promise<void>;
}

/** `statusHost`: the address the status server binds (default 127.0.0.1), e.g. a non-loopback one. */
export async function startGateway(config: GatewayConfig, opts: { services?: Record<string, unknown>; statusHost?: string } = {}): Promise<TestGateway> {
  const statusHost = opts.statusHost ?? '127.0.0.1';
  const [port, status] = [await freePort(), await freePort(statusHost)];
  const { node: nodeCfg, ...dynamic } = config;
  const node: NodeSettings = { ...nodeCfg, listen: `127.0.0.1:${port}`, status: `${statusHost}:${status}` };
  const accessLog: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write(chunk, _enc, cb) { for (const l of String(chunk).split('\n')) if (l) accessLog.push(JSON.parse(l)); cb(); } });
  const logger = pino({ level: process.env.GATEHOUSE_TEST_LOG ?? 'silent' });
  const source = new MemorySource(dynamic);
  const gw = new Gateway({ node, source, logger, baseDir: process.cwd(), accessLogDestination: sink, ...(opts.services ? { services: opts.services } : {}) });
  await gw.start();
  return {
    gw, source, port, accessLog,
    url: `http://127.0.0.1:${port}`,
    statusUrl: `http://${statusHost}:${status}`,
    push: (c) => source.push(c),
    stop: () => gw.shutdown(2000),
  };
}
