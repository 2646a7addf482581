/**
 * `gatehouse register --etcd URL[,URL] [--prefix P] --service NAME --url URL [--id ID]
 * [--weight N] [--ttl SECONDS]`: keeps one service instance in the registry
 * (`<prefix>/registry/<service>/<id>`, under a lease kept alive) until SIGTERM/SIGINT, which
 * revoke the lease so every gateway drops the instance at once. A crash leaves the key to
 * expire after the TTL. Meant as a sidecar or a line in a service's start script.
 */
import { hostname } from 'node:os';
import pino from 'pino';
import { registerInstance } from '../discovery/registry.ts';
import type { Args } from './args.ts';

export const REGISTER_USAGE = `  gatehouse register --etcd URL[,URL...] --service NAME --url http://HOST:PORT
                    [--prefix /gatehouse] [--id ID] [--weight N] [--ttl 10]
                                  keep an instance in the registry until SIGTERM/SIGINT`;

const str = (v: string | true | undefined): string | undefined => (typeof v === 'string' ? v : undefined);

function intFlag(v: string | true | undefined, name: string, def: number, min: number, max: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new RangeError(`--${name}: must be an integer ${min}..${max}`);
  return n;
}

/** Exit code, or -1 while registered (the process then lives until a signal). */
export async function runRegister(args: Args): Promise<number> {
  const f = args.flags;
  const etcd = str(f.etcd);
  const service = str(f.service);
  const url = str(f.url);
  if (!etcd || !service || !url) {
    console.error(`usage:\n${REGISTER_USAGE}`);
    return 2;
  }
  let weight: number;
  let ttl: number;
  try {
    weight = intFlag(f.weight, 'weight', 1, 0, 1000);
    ttl = intFlag(f.ttl, 'ttl', 10, 1, 3600);
  } catch (err) {
    console.error(`gatehouse register: ${(err as Error).message}`);
    return 2;
  }
  const id = str(f.id) ?? `${hostname().replace(/[^A-Za-z0-9._-]/g, '-')}-${process.pid}`;
  // ISO times and no hostname: these lines sit next to the plain ones above in a terminal or a unit's journal.
  const logger = pino({ level: str(f['log-level']) ?? 'warn', base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ dest: 2, sync: true }));
  let reg: Awaited<ReturnType<typeof registerInstance>>;
  try {
    reg = await registerInstance({
      endpoints: etcd.split(',').map((s) => s.trim()).filter(Boolean),
      prefix: (str(f.prefix) ?? '/gatehouse').replace(/\/+$/, ''), service, id, url, weight, ttl, logger,
    });
  } catch (err) {
    console.error(`gatehouse register: ${(err as Error).message}`);
    return 1;
  }
  console.log(`registered ${reg.key} -> ${url} (weight ${weight}, ttl ${ttl}s)`);
  const stop = (signal: string): void => {
    logger.info({ signal }, 'deregistering');
    void reg.stop().then(() => {
      console.log(`deregistered ${reg.key} (${signal}): gateways drop it now`);
      process.exit(0);
    }, (err: Error) => {
      console.error(`gatehouse register: could not deregister ${reg.key} (${err.message}); it expires with its lease in ${ttl}s`);
      process.exit(1);
    });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  return -1;
}
