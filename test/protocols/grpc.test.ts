/**
 * gRPC pass-through: Debian's python3-grpcio as the client, through the gateway (h2c), to
 * an @grpc/grpc-js server on an h2c:// target. Every call kind, trailers, upstream
 * statuses, grpc-timeout, cancellation, and the gateway's own errors as gRPC statuses.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { waitFor } from '../helpers/wait.ts';
import { startGrpcServer, type GrpcUp } from './grpc-server.ts';
import { run } from './run.ts';

const client = fileURLToPath(new URL('./grpc-client.py', import.meta.url));
const digest = (k: string): string => `sha256:${createHash('sha256').update(k).digest('hex')}`;
let up: GrpcUp;
let gw: TestGateway;

test.before(async () => {
  up = await startGrpcServer();
  gw = await startGateway({
    node: { http2: { cleartext: true } },
    consumers: { alice: { keys: [digest('k-alice')] } },
    upstreams: { grpc: { targets: [{ url: `h2c://127.0.0.1:${up.port}` }] } },
    routes: {
      echo: { match: { paths: ['/test.Echo/*'] }, upstream: 'grpc' },
      locked: { match: { paths: ['/locked.Echo/*'] }, upstream: 'grpc', rewrite: { path: '/test.Echo/Unary' }, policies: { 'key-auth': {} } },
      limited: { match: { paths: ['/limited.Echo/*'] }, upstream: 'grpc', rewrite: { path: '/test.Echo/Unary' }, policies: { 'rate-limit': { limit: 1, window: '1m', by: 'ip' } } },
    },
  });
});
test.after.always(async () => { await gw?.stop(); await up?.close(); });

async function call(scenario: string, extra: string[] = [], target = `127.0.0.1:${gw.port}`): Promise<Record<string, unknown>> {
  const r = await run('/usr/bin/python3', [client, target, scenario, ...extra], { timeout: 30_000 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try { return JSON.parse(line) as Record<string, unknown>; } catch { throw new Error(`client said: ${r.stdout} ${r.stderr}`); }
}

test('unary, server-, client- and bidi-streaming calls pass through; trailers arrive', async (t) => {
  t.deepEqual(await call('unary'), { ok: true, reply: 'echo:hello' });
  const tr = await call('unary-trailers');
  t.is(tr.code, 0);
  t.is((tr.trailers as Record<string, string>)['x-trailer'], 'yes');
  t.deepEqual(await call('server-stream'), { ok: true, replies: ['m0', 'm1', 'm2', 'm3'] });
  t.deepEqual(await call('client-stream'), { ok: true, reply: 'abc' });
  t.deepEqual(await call('bidi'), { ok: true, replies: ['re:x', 're:y', 're:z'] });
});

test('an upstream status and message reach the client (grpc-status / grpc-message trailers)', async (t) => {
  t.like(await call('fail'), { ok: false, name: 'NOT_FOUND', details: 'no such thing' });
});

test('grpc-timeout bounds the upstream call: DEADLINE_EXCEEDED in time', async (t) => {
  const r = await call('slow');
  t.like(r, { ok: false, name: 'DEADLINE_EXCEEDED' });
  t.true((r.elapsed as number) < 2.5);
});

test('a client cancel reaches the upstream', async (t) => {
  const before = up.cancelled;
  t.like(await call('cancel'), { ok: true, replies: ['tick0', 'tick1'] });
  await waitFor(() => up.cancelled > before, { timeout: 10_000, message: 'the server saw the cancel' });
  t.pass();
});

test('the gateway\'s own errors are gRPC statuses: no route, no key, rate limited', async (t) => {
  t.like(await call('unknown'), { ok: false, name: 'UNIMPLEMENTED' });
  // A route whose path rewrites to Unary: the client calls /locked.Echo/Unary.
  const locked = await run('/usr/bin/python3', ['-c', `
import grpc, json
with grpc.insecure_channel('127.0.0.1:${gw.port}') as ch:
    f = ch.unary_unary('/locked.Echo/Unary', request_serializer=None, response_deserializer=None)
    out = []
    for md in [(), (('x-api-key', 'k-alice'),)]:
        try:
            out.append(['OK', f(b'k', metadata=md, timeout=10).decode()])
        except grpc.RpcError as e:
            out.append([e.code().name, e.details()])
    g = ch.unary_unary('/limited.Echo/Unary', request_serializer=None, response_deserializer=None)
    for _ in range(2):
        try:
            out.append(['OK', g(b'l', timeout=10).decode()])
        except grpc.RpcError as e:
            out.append([e.code().name, e.details()])
    print(json.dumps(out))
`], { timeout: 30_000 });
  const rows = JSON.parse(locked.stdout.trim()) as string[][];
  t.is(rows[0]![0], 'UNAUTHENTICATED');
  t.deepEqual(rows[1], ['OK', 'echo:k']);
  t.deepEqual(rows[2], ['OK', 'echo:l']);
  t.is(rows[3]![0], 'RESOURCE_EXHAUSTED');
});

test('an unreachable upstream is UNAVAILABLE', async (t) => {
  const port = up.port;
  const dead = await startGateway({
    node: { http2: { cleartext: true } },
    upstreams: { g: { targets: [{ url: 'h2c://127.0.0.1:1' }], timeouts: { connect: '500ms' } } },
    routes: { r: { match: { paths: ['/test.Echo/*'] }, upstream: 'g' } },
  });
  try {
    t.like(await call('unary', [], `127.0.0.1:${dead.port}`), { ok: false, name: 'UNAVAILABLE' });
  } finally { await dead.stop(); }
  t.truthy(port);
});
