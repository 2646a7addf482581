/**
 * Wiring only: read the static node settings, pick the config source, start the gateway
 * (or a supervisor of worker processes), and stop gracefully on SIGTERM/SIGINT.
 */
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import pino from 'pino';
import { readConfigFileWith } from './config/file.ts';
import { JsonItemReader } from './config/json-items.ts';
import { formatErrors } from './schema/validate.ts';
import { validateConfig } from './validation/validate.ts';
import type { NodeSettings } from './schema/model.ts';
import { startNode } from './app/node.ts';
import { superviseWorkers } from './workers/supervise.ts';
import type { StatusPortMessage } from './workers/status-front.ts';
import { DEFAULTS, splitHostPort } from './gateway.ts';
import { parseDuration } from './schema/duration.ts';
import { defaultCounterStore } from './cluster/counters/services.ts';
import type { NodeServices } from './request/services.ts';
import { boundHeapGrowth, setNodeV8Flags } from './core/heap.ts';

export async function runNode(configPath: string, workersFlag?: string): Promise<number> {
  setNodeV8Flags();
  const file = resolve(configPath);
  // One read: the file source starts from this reader's state (a large JSON file is parsed once).
  const configReader = new JsonItemReader();
  const { doc, error } = readConfigFileWith(file, configReader);
  if (error) { console.error(`${configPath}: ${error}`); return 1; }
  const node: NodeSettings = (doc as { node?: NodeSettings } | undefined)?.node ?? {};
  const w = workersFlag ?? node.workers ?? 1;
  const workers = w === 'auto' ? availableParallelism() : Number(w);
  // A supervisor checks the whole file before it forks workers that would all refuse it; a
  // single process checks the node section here and the rest once, when its gateway loads
  // the file (a refused file fails the start below with the same messages).
  const errs = validateConfig(workers > 1 && cluster.isPrimary ? doc : (doc !== null && typeof doc === 'object' && !Array.isArray(doc) ? { node: (doc as { node?: unknown }).node } : doc));
  if (errs.length) { console.error(formatErrors(errs)); return 1; }
  if (!Number.isInteger(workers) || workers < 1) { console.error(`--workers: must be a positive integer or auto`); return 2; }
  const logger = pino({ level: node.log?.level ?? 'info', base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ dest: 2, sync: false }));

  if (workers > 1 && cluster.isPrimary) {
    return superviseWorkers({
      workers, status: splitHostPort(node.status ?? DEFAULTS.status), logger,
      drainMs: parseDuration(node.drainTimeout ?? DEFAULTS.drainTimeout),
      purgeToken: node.purgeToken,
    });
  }
  // Rate-limit counts: one store per process; under --workers it shares use with the siblings.
  const services: NodeServices = { counters: defaultCounterStore() };
  if (node.cluster && ['upstreams', 'consumers', 'routes'].some((k) => (doc as Record<string, unknown>)[k] !== undefined)) {
    logger.warn('cluster mode: upstreams, consumers and routes come from etcd; the ones in the file are ignored');
  }
  // Stop requests are heard from the start: a SIGTERM, or the supervisor's 'shutdown' sent
  // while this worker is still loading its config, must not be lost (the worker would never
  // exit). Before the node runs there is nothing to drain: exit at once.
  let stop = (signal: string): void => {
    logger.info({ signal }, 'stopped before the node was running');
    logger.flush();
    process.exit(0);
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  if (cluster.isWorker) process.on('message', (m) => { if (m === 'shutdown') stop('supervisor'); });
  // A large config under a stream of edits: keep V8's garbage near the live heap (core/heap.ts).
  boundHeapGrowth();
  // app/node.ts picks the config source (the file, or etcd with the snapshot file as fallback).
  // A worker's status server is private (loopback, any port); the primary answers for the node.
  const running = await startNode({
    node, configFile: file, configReader, logger, services, reusePort: workers > 1 || cluster.isWorker,
    ...(cluster.isWorker ? { statusListen: '127.0.0.1:0' } : {}),
  });
  // Standalone, the file is the only config there will be: one the node refuses (compile
  // errors the schema cannot see) is a failed start, not a node answering 503 forever.
  if (!running.gateway.snapshot && !node.cluster && !cluster.isWorker) {
    console.error(`${configPath}: the node refused this config:\n${formatErrors(running.gateway.configErrors)}`);
    await running.stop();
    logger.flush();
    return 1;
  }
  if (!running.gateway.snapshot && node.cluster) {
    logger.warn({ errors: running.gateway.configErrors.map((e) => `${e.path}: ${e.message}`) }, 'no config this node accepts yet: /readyz answers 503 until etcd (or the snapshot) holds one; see gatewayctl status');
  }
  let stopping = false;
  stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    void running.stop().then(() => { logger.flush(); process.exit(0); });
  };
  if (cluster.isWorker) {
    process.send?.({ type: 'gatehouse:status-port', port: splitHostPort(running.statusAddress).port } satisfies StatusPortMessage);
  }
  return -1; // keep running
}
