/**
 * The access log through a real gateway: the fields, credentials redacted, and the file sink
 * (reopened on SIGUSR2, rotated by size).
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, renameSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway } from '../helpers/gateway.ts';
import { startUpstream } from '../helpers/upstream.ts';
import { http } from '../helpers/http.ts';
import { waitFor } from '../helpers/wait.ts';
import { AccessLogger } from '../../nodes/src/pipeline/access-log.ts';
import type { RequestContext } from '../../nodes/src/request/context.ts';

const digest = (k: string): string => `sha256:${createHash('sha256').update(k).digest('hex')}`;

test('one line per request with the operator fields; secrets never logged', async (t) => {
  const up = await startUpstream();
  const gw = await startGateway({
    node: { log: { access: { sample: 1, redactQuery: ['api_key', 'token', 'X-Sig'] } } },
    upstreams: { a: { targets: [{ url: up.url }] } },
    consumers: { alice: { keys: [digest('alice-key')] } },
    routes: {
      open: { match: { paths: ['/open'] }, upstream: 'a' },
      keyed: { match: { paths: ['/keyed'] }, upstream: 'a', policies: { 'key-auth': { query: 'api_key' }, 'rate-limit': { limit: 1, window: '1m', by: 'ip' } } },
      cached: { match: { paths: ['/cached'] }, upstream: 'a', policies: { cache: { ttl: '1h' } } },
    },
  } as never);
  t.teardown(async () => { await gw.stop(); await up.close(); });
  const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00';
  const r1 = await http(`${gw.url}/keyed?page=2&api_key=alice-key&x%2Dsig=abc&TOKEN=t0psecret&token`, { method: 'POST', body: 'hello', headers: { authorization: 'Bearer very-secret', cookie: 'session=very-secret', traceparent: tp, 'content-type': 'text/plain' } });
  t.is(r1.status, 200);
  const r2 = await http(`${gw.url}/keyed?api_key=alice-key`);
  t.is(r2.status, 429);
  t.is((await http(`${gw.url}/cached`)).status, 200);
  t.is((await http(`${gw.url}/cached`)).status, 200);
  gw.gw.rt.accessLog.flush();
  await waitFor(() => gw.accessLog.length >= 4, { message: 'four lines' });
  const [a, b, miss, hit] = gw.accessLog as Array<Record<string, any>>;
  t.regex(a!.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  t.is(a!.requestId, r1.headers['x-request-id']);
  t.is(a!.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
  t.is(a!.method, 'POST');
  t.is(a!.path, '/keyed');
  t.is(a!.query, 'page=2&x%2Dsig=[REDACTED]&TOKEN=[REDACTED]&token'); // key-auth took its own api_key out
  t.is(a!.route, 'keyed');
  t.is(a!.consumer, 'alice');
  t.is(a!.status, 200);
  t.is(a!.bytesIn, 5);
  t.true(a!.bytesOut > r1.body.length);
  t.is(a!.upstream, up.url.replace(/\/$/, ''));
  t.is(typeof a!.durationMs, 'number');
  t.true(a!.upstreamMs <= a!.durationMs);
  t.is(a!.rateLimit, 'allowed');
  t.is(b!.rateLimit, 'limited');
  t.is(b!.code, 'GW_RATE_LIMITED');
  t.is(b!.status, 429);
  t.is(miss!.cache, 'miss');
  t.is(hit!.cache, 'hit');
  const text = JSON.stringify(gw.accessLog);
  t.false(text.includes('very-secret'));
  t.false(text.includes('alice-key'));
  t.false(text.includes('abc'));
  t.false(text.includes('t0psecret'));
});

function fakeCtx(i: number): RequestContext {
  return {
    req: { headers: {}, socket: { bytesWritten: 0 } }, res: {}, id: `req-${String(i).padStart(8, '0')}`, method: 'GET', path: '/x"y\n', rawQuery: '',
    host: 'h', start: 0, clientIp: '127.0.0.1', route: undefined, status: 200, errorCode: undefined, consumer: undefined, target: undefined,
    upstreamStart: 0, upstreamEnd: 0, ownId: false, responseHeaders: undefined, cacheResult: undefined, body: undefined, trace: undefined,
  } as unknown as RequestContext;
}

test('bytesOut: a line left out by sampling does not add its bytes to the next one on its connection', (t) => {
  const out: string[] = [];
  const log = new AccessLogger({ enabled: true, sample: 0 }, { write: (c: string) => out.push(c) }); // only errors are logged
  t.teardown(() => log.close());
  const socket = { bytesWritten: 0 };
  const on = (i: number, status: number, written: number): RequestContext => {
    socket.bytesWritten = written;
    return { ...fakeCtx(i), req: { headers: {}, socket }, status } as unknown as RequestContext;
  };
  log.write(on(1, 200, 300), 1); // left out
  log.write(on(2, 502, 450), 1);
  log.write(on(3, 200, 700), 1); // left out
  log.write(on(4, 503, 800), 1);
  log.flush();
  const logged = out.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { requestId: string; bytesOut: number });
  t.deepEqual(logged.map((l) => [l.requestId, l.bytesOut]), [['req-00000002', 150], ['req-00000004', 100]]);
});

const lines = (f: string): Array<Record<string, unknown>> => (existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);

test('file sink: SIGUSR2 reopens the file after logrotate moved it; odd characters stay valid JSON', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-alog-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'access.log');
  const log = new AccessLogger({ enabled: true, sample: 1, file });
  t.teardown(() => log.close());
  log.write(fakeCtx(1), 1);
  log.flush();
  await waitFor(() => lines(file).length === 1);
  t.is(lines(file)[0]!.path, '/x"y\n');
  renameSync(file, `${file}.old`);
  log.write(fakeCtx(2), 1);
  log.flush();
  await waitFor(() => lines(`${file}.old`).length === 2, { message: 'still writing to the moved file until told' });
  process.kill(process.pid, 'SIGUSR2');
  await waitFor(() => existsSync(file), { message: 'reopened' });
  log.write(fakeCtx(3), 1);
  log.flush();
  await waitFor(() => lines(file).length === 1);
  t.is(lines(file)[0]!.requestId, 'req-00000003');
});

test('file sink: rotated to <file>.1 past maxSize', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-alog-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'access.log');
  const log = new AccessLogger({ enabled: true, sample: 1, file, maxSize: 1000 });
  t.teardown(() => log.close());
  for (let i = 0; i < 10; i++) log.write(fakeCtx(i), 1);
  log.flush();
  await waitFor(() => existsSync(`${file}.1`), { message: 'rotated' });
  for (let i = 10; i < 12; i++) log.write(fakeCtx(i), 1);
  log.flush();
  await waitFor(() => lines(file).length === 2);
  t.is(lines(`${file}.1`).length, 10);
});

test('file sink: batches past 64 KiB, multi-byte text and a line longer than a batch arrive whole and in order', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-alog-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'access.log');
  const log = new AccessLogger({ enabled: true, sample: 1, file });
  t.teardown(() => log.close());
  const long = `/${'ü'.repeat(40_000)}`; // 80 KB of UTF-8 in one line: more than a batch
  const before = Date.now();
  for (let i = 0; i < 3000; i++) {
    const ctx = fakeCtx(i) as unknown as { path: string };
    ctx.path = i === 1500 ? long : `/é/${i}/😀`;
    log.write(ctx as unknown as RequestContext, 1.0004 + i / 1000);
  }
  log.flush();
  await waitFor(() => lines(file).length === 3000, { message: 'all 3000 lines' });
  const got = lines(file);
  for (let i = 0; i < 3000; i++) {
    if (got[i]!.requestId !== `req-${String(i).padStart(8, '0')}`) return t.fail(`line ${i} out of order: ${String(got[i]!.requestId)}`);
    if (got[i]!.path !== (i === 1500 ? long : `/é/${i}/😀`)) return t.fail(`line ${i}: path changed`);
  }
  t.is(got[7]!.durationMs, Math.round((1.0004 + 7 / 1000) * 1000) / 1000);
  const time = Date.parse(got[0]!.time as string);
  t.regex(got[0]!.time as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  t.true(time >= before && time <= Date.now(), `time ${String(got[0]!.time)} is the write's`);
  t.is(log.dropped, 0);
});
