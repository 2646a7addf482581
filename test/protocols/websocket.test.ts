/**
 * WebSocket tunnels with Debian's python3-websockets on both ends (client and echo
 * server): routes with websocket: true, request-phase policies before the upgrade, refusal
 * elsewhere, the per-node cap, the idle timeout, bytes counted, 1001 on shutdown.
 */
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { waitFor } from '../helpers/wait.ts';
import { run } from './run.ts';
import { spawnTracked } from '../helpers/child.ts';

const script = fileURLToPath(new URL('./ws.py', import.meta.url));
const digest = (k: string): string => `sha256:${createHash('sha256').update(k).digest('hex')}`;
let server: ChildProcess;
let upPort: number;
let gw: TestGateway;

test.before(async () => {
  // Tracked: killed with this test process however it ends; its stderr is piped, never
  // inherited (a child holding the runner's stderr would hold CI's output open).
  server = spawnTracked('/usr/bin/python3', [script, 'server']).child;
  upPort = await new Promise<number>((resolve, reject) => {
    server.stdout!.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
    server.once('exit', () => reject(new Error('ws server exited')));
  });
  gw = await startGateway(config());
});
test.after.always(async () => { server?.kill('SIGKILL'); await gw?.stop(); });

function config(node: Record<string, unknown> = {}): never {
  return {
    node,
    consumers: { alice: { keys: [digest('k-alice')] } },
    upstreams: { ws: { targets: [{ url: `http://127.0.0.1:${upPort}` }] } },
    routes: {
      chat: { match: { paths: ['/ws', '/ws/*'] }, upstream: 'ws', websocket: true },
      locked: { match: { paths: ['/locked'] }, upstream: 'ws', websocket: true, policies: { 'key-auth': {} } },
      plain: { match: { paths: ['/plain'] }, upstream: 'ws' },
    },
  } as never;
}

async function client(url: string, cmd: string, extra: string[] = []): Promise<Record<string, unknown>> {
  const r = await run('/usr/bin/python3', [script, 'client', url, cmd, ...extra], { timeout: 30_000 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try { return JSON.parse(line) as Record<string, unknown>; } catch { throw new Error(`client said: ${r.stdout} ${r.stderr}`); }
}

/** A client kept open in the background; its lines as they come. */
function holder(url: string): { lines: Array<Record<string, unknown>>; child: ChildProcess } {
  const child = spawn('/usr/bin/python3', [script, 'client', url, 'hold'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const lines: Array<Record<string, unknown>> = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += String(d);
    let i;
    while ((i = buf.indexOf('\n')) >= 0) { lines.push(JSON.parse(buf.slice(0, i)) as Record<string, unknown>); buf = buf.slice(i + 1); }
  });
  return { lines, child };
}

const ws = (g: TestGateway, path: string): string => `ws://127.0.0.1:${g.port}${path}`;

test.serial('messages echo through a websocket route, text and binary; bytes are counted', async (t) => {
  t.deepEqual(await client(ws(gw, '/ws/room?x=1'), 'echo'), { ok: true, got: ['one', 'two', '00017468726565'] });
  await waitFor(async () => /gatehouse_websocket_bytes_total\{direction="in"\} [1-9]/.test(await (await fetch(`${gw.statusUrl}/metrics`)).text()), { timeout: 15_000, message: 'bytes counted' });
  // The access log writes in batches (at least once a second): wait for the line.
  const line = await waitFor(() => gw.accessLog.find((l) => l.path === '/ws/room'), { timeout: 5000 }).catch(() => undefined);
  t.is(line?.status, 101);
  t.is(line?.route, 'chat');
});

test.serial('request-phase policies run before the upgrade: no key is a 401, a key opens the socket', async (t) => {
  t.deepEqual(await client(ws(gw, '/locked'), 'echo'), { ok: false, status: 401 });
  t.like(await client(ws(gw, '/locked'), 'echo', ['x-api-key=k-alice']), { ok: true });
});

test.serial('a route without websocket: true refuses the upgrade', async (t) => {
  t.deepEqual(await client(ws(gw, '/plain'), 'echo'), { ok: false, status: 400 });
});

test.serial('per-node cap, idle timeout and close 1001 on shutdown', async (t) => {
  const g = await startGateway(config({ websocket: { maxConnections: 2, idleTimeout: '8s' } }));
  const held: Array<ReturnType<typeof holder>> = [];
  try {
    held.push(holder(ws(g, '/ws/a')), holder(ws(g, '/ws/b')));
    await waitFor(() => held.every((h) => h.lines.length > 0), { timeout: 15_000, message: 'two tunnels open' });
    t.deepEqual(await client(ws(g, '/ws/c'), 'echo'), { ok: false, status: 503 });
    // Idle: both close on their own after 8 s without traffic.
    await waitFor(() => held.every((h) => h.lines.length > 1), { timeout: 25_000, message: 'idle tunnels closed' });
    // Room again: a new one opens, and gets 1001 when the node shuts down.
    const last = holder(ws(g, '/ws/d'));
    held.push(last);
    await waitFor(() => last.lines.length > 0, { timeout: 15_000, message: 'a third tunnel open' });
    await g.stop();
    await waitFor(() => last.lines.length > 1, { timeout: 15_000, message: 'the client saw the close' });
    t.is(last.lines[1]!.closed, 1001);
  } finally {
    for (const h of held) h.child.kill();
    await g.stop();
  }
});
