/**
 * A real DNS server for discovery tests: dnsmasq (Debian package dnsmasq-base) on a free
 * port, authoritative for `.test`, answering from a hosts directory it re-reads on change
 * (inotify), with a 1 s TTL, plus fixed SRV and host records from the command line.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promises as dns } from 'node:dns';
import { spawnTracked, killTracked, type Tracked } from './child.ts';
import { freePort } from './ports.ts';
import { waitFor } from './wait.ts';

export const HAVE_DNSMASQ = spawnSync('dnsmasq', ['--version'], { stdio: 'ignore' }).status === 0;

export interface Dnsmasq {
  /** `127.0.0.1:PORT`, for node.dns.servers. */
  server: string;
  port: number;
  /** Replace the hosts file: `{ 'app.test': ['127.0.0.2'] }`. dnsmasq picks it up at once. */
  setHosts(hosts: Record<string, string[]>): void;
  kill(): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface DnsmasqOptions {
  hosts?: Record<string, string[]>;
  /** `--srv-host` values: `_http._tcp.svc.test,a.svc.test,8001,0,3`. */
  srv?: string[];
  /** `--host-record` values: `a.svc.test,127.0.0.1`. */
  hostRecords?: string[];
  ttl?: number;
}

export async function startDnsmasq(o: DnsmasqOptions = {}): Promise<Dnsmasq> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-dnsmasq-'));
  const hostsDir = join(dir, 'hosts');
  const port = await freePort();
  const setHosts = (hosts: Record<string, string[]>): void => {
    const lines = Object.entries(hosts).flatMap(([name, ips]) => ips.map((ip) => `${ip} ${name}`));
    writeFileSync(join(hostsDir, 'hosts'), `${lines.join('\n')}\n`);
  };
  mkdirSync(hostsDir);
  setHosts(o.hosts ?? {});
  const args = [
    '--keep-in-foreground', '--conf-file=/dev/null', `--port=${port}`, '--listen-address=127.0.0.1', '--bind-interfaces',
    '--no-resolv', '--no-hosts', '--local=/test/', `--hostsdir=${hostsDir}`, `--local-ttl=${o.ttl ?? 1}`,
    `--user=${userInfo().username}`, '--pid-file=', '--log-facility=-',
    ...(o.srv ?? []).map((s) => `--srv-host=${s}`),
    ...(o.hostRecords ?? []).map((h) => `--host-record=${h}`),
  ];
  let proc: Tracked | undefined;
  const resolver = new dns.Resolver({ timeout: 300, tries: 1 });
  resolver.setServers([`127.0.0.1:${port}`]);
  const launch = async (): Promise<void> => {
    const p = spawnTracked('dnsmasq', args);
    proc = p;
    await waitFor(async () => {
      if (p.child.exitCode !== null) throw new Error(`dnsmasq exited: ${p.output()}`);
      // Any answer (NXDOMAIN included) means it is serving.
      try { await resolver.resolve4('probe.test'); } catch (err) { if ((err as NodeJS.ErrnoException).code !== 'ENOTFOUND') throw err; }
      return true;
    }, { timeout: 5000, interval: 25, message: `dnsmasq on port ${port}` });
  };
  await launch();
  return {
    server: `127.0.0.1:${port}`,
    port,
    setHosts,
    kill: async () => { if (proc) await killTracked(proc, 'SIGKILL'); },
    restart: async () => { if (proc) await killTracked(proc, 'SIGTERM'); await launch(); },
    stop: async () => {
      if (proc) await killTracked(proc, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
