/**
 * Free TCP ports for servers the tests start (gateway nodes, etcd, nats-server).
 *
 * The number has to be chosen before the server binds it, so there is a gap between the
 * choice and the bind. Ports from listen(0) come from the kernel's ephemeral range, which is
 * also where every outgoing connection and every other listen(0) gets its port: in a full run
 * one of those took a port in that gap and a cluster node failed with EADDRINUSE. So ports
 * are taken below the ephemeral range (where the kernel never hands any out on its own), each
 * is checked by binding it, and each is claimed with an exclusive file so that the test
 * workers running at the same time never pick the same one. A claim is dropped when its
 * process exits; one left by a killed process is taken over once it is stale.
 */
import { closeSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CLAIMS = join(tmpdir(), 'gatehouse-test-ports');
const STALE_MS = 30 * 60_000;
const held = new Set<string>();
let range: [number, number] | undefined;
let next = 0;

/** Below the kernel's ephemeral range (32768–60999 by default), above the well-known ports. */
function portRange(): [number, number] {
  if (range) return range;
  let low = 32768;
  try { low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low; } catch { /* not Linux */ }
  range = [10_000, Math.max(low, 12_000)];
  return range;
}

function claim(port: number): boolean {
  const file = join(CLAIMS, String(port));
  try {
    closeSync(openSync(file, 'wx'));
  } catch {
    try {
      if (Date.now() - statSync(file).mtimeMs < STALE_MS) return false;
      unlinkSync(file);
      closeSync(openSync(file, 'wx'));
    } catch { return false; }
  }
  if (held.size === 0) process.once('exit', () => { for (const f of held) try { unlinkSync(f); } catch { /* gone */ } });
  held.add(file);
  return true;
}

function bindable(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  mkdirSync(CLAIMS, { recursive: true });
  const [lo, hi] = portRange();
  const span = hi - lo;
  if (next === 0) next = Math.floor(Math.random() * span);
  for (let tries = 0; tries < span; tries++) {
    const port = lo + (next++ % span);
    if (claim(port) && (await bindable(port, host))) return port;
  }
  throw new Error(`no free port in ${lo}-${hi}`);
}

/** True when something accepts TCP connections on host:port. */
export function isListening(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = new Socket();
    const done = (ok: boolean) => { sock.destroy(); resolve(ok); };
    sock.setTimeout(1000, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
    sock.connect(port, host);
  });
}
