/**
 * CPU per access-log line, alone: `node nodes/src/pipeline/access-log.bench.ts [file]`.
 * Writes 200k lines of a typical proxied request to /dev/null (or `file`) and prints CPU µs
 * per line (the request loop's own cost subtracted).
 */
import { AccessLogger } from './access-log.ts';
import type { RequestContext } from '../request/context.ts';

const file = process.argv[2] ?? '/dev/null';
const socket = { bytesWritten: 0 };
function fakeCtx(i: number): RequestContext {
  socket.bytesWritten += 301;
  return {
    req: { headers: { 'user-agent': 'wrk', host: 'api.example.com' }, socket }, res: {}, id: `0123456789abcdef0123456789ab${String(1000 + (i % 9000))}`,
    method: 'GET', path: '/items/42', rawQuery: i % 4 === 0 ? 'page=2&api_key=secret' : '', host: 'api.example.com', start: performance.now() - 1.5,
    clientIp: '127.0.0.1', route: { name: 'items' }, status: 200, errorCode: undefined, consumer: i % 2 ? { name: 'alice' } : undefined,
    target: 'http://127.0.0.1:9000', upstreamStart: performance.now() - 1, upstreamEnd: performance.now(), ownId: true,
    responseHeaders: undefined, cacheResult: undefined, body: undefined, trace: undefined,
  } as unknown as RequestContext;
}

const N = 200_000;
function loop(log: AccessLogger | undefined): number {
  const c0 = process.cpuUsage();
  for (let i = 0; i < N; i++) { const ctx = fakeCtx(i); log?.write(ctx, performance.now()); }
  log?.flush();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / N;
}
const log = new AccessLogger({ enabled: true, sample: 1, file });
for (let round = 0; round < 3; round++) {
  const base = loop(undefined);
  const us = loop(log);
  await new Promise((r) => setTimeout(r, 200)); // let the writes land
  console.log(`round ${round}: ${(us - base).toFixed(2)} µs per line`);
}
log.close();
