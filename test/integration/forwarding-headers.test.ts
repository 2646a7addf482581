/**
 * One upstream-request builder: a plain forward, the cache's revalidation and the mirror's copy
 * send the same forwarding headers (Host as routed, the trusted X-Forwarded-* chain, the
 * request id, the client's trace) to real upstreams.
 */
import test from 'ava';
import { startGateway } from '../helpers/gateway.ts';
import { startUpstream, type Received } from '../helpers/upstream.ts';
import { http } from '../helpers/http.ts';
import { waitFor } from '../helpers/wait.ts';

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const FORWARDING = ['host', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host'] as const;

test('forward, cache revalidation and mirror copy carry identical forwarding headers', async (t) => {
  // /cached is stored but must be revalidated on each use: the second request is the cache's own upstream call.
  const main = await startUpstream({
    respond: (r, res) => {
      const headers: Record<string, string> = r.url === '/cached' ? { 'cache-control': 'max-age=0, must-revalidate', etag: '"v1"' } : {};
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2', ...headers });
      res.end('ok');
    },
  });
  const shadow = await startUpstream();
  t.teardown(() => { main.close(); shadow.close(); });
  const upstream = (u: { port: number }) => ({ targets: [{ url: `http://127.0.0.1:${u.port}` }], hostHeader: 'preserve' as const });
  const g = await startGateway({
    node: { trustedProxies: ['127.0.0.1/32'] },
    upstreams: { main: upstream(main), shadow: upstream(shadow) },
    routes: {
      plain: { match: { paths: ['/plain'] }, upstream: 'main' },
      cached: { match: { paths: ['/cached'] }, upstream: 'main', policies: { cache: {} } },
      mirrored: { match: { paths: ['/mirrored'] }, upstream: 'main', policies: { mirror: { upstream: 'shadow' } } },
    },
  } as never);
  t.teardown(() => g.stop());

  const send = async (path: string): Promise<void> => {
    const r = await http(`${g.url}${path}`, { headers: {
      host: 'api.example.com:8443',
      'x-forwarded-for': '203.0.113.7',
      'x-forwarded-proto': 'https',
      'x-request-id': `req-${path.slice(1)}-0001`,
      traceparent: `00-${TRACE}-b7ad6b7169203331-01`,
    } });
    t.is(r.status, 200, path);
  };
  await send('/plain');
  await send('/cached');
  await send('/cached');
  await send('/mirrored');
  await waitFor(() => shadow.received.length === 1, { message: 'mirror copy arrived' });

  const at = (list: Received[], path: string) => list.filter((r) => r.url === path);
  const revalidation = at(main.received, '/cached')[1];
  t.is(revalidation?.headers['if-none-match'], '"v1"', 'the second /cached request is the cache revalidating');
  const seen = { forward: at(main.received, '/plain')[0]!, cache: revalidation!, mirror: at(shadow.received, '/mirrored')[0]! };
  const pick = (r: Received) => Object.fromEntries(FORWARDING.map((k) => [k, r.headers[k]]));
  const want = pick(seen.forward);
  // What users rely on: the trusted chain is extended, the routed authority is kept.
  t.deepEqual(want, { host: 'api.example.com:8443', 'x-forwarded-for': '203.0.113.7, 127.0.0.1', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example.com:8443' });
  t.deepEqual(pick(seen.cache), want, 'cache');
  t.deepEqual(pick(seen.mirror), want, 'mirror');
  for (const [name, r] of Object.entries(seen)) {
    t.is(r.headers['x-request-id'], `req-${r.url.slice(1)}-0001`, name);
    t.regex(String(r.headers.traceparent), new RegExp(`^00-${TRACE}-[0-9a-f]{16}-01$`), name);
  }
});
