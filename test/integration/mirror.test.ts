// mirror end to end: copies of a share of requests reach the mirror; the client's answer
// never depends on the mirror (slow, failing or hanging); bodies and overload are skipped.
import test from 'ava';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { http } from '../helpers/http.ts';
import { waitFor } from '../helpers/wait.ts';

let main: TestUpstream;
let shadow: TestUpstream;
let gw: TestGateway;

test.before(async () => {
  main = await startUpstream();
  shadow = await startUpstream();
  gw = await startGateway({
    upstreams: { main: { targets: [{ url: main.url }] }, shadow: { targets: [{ url: shadow.url }], timeouts: { response: '2s' } } },
    routes: {
      half: { match: { paths: ['/half/*'] }, upstream: 'main', rewrite: { stripPrefix: '/half' }, policies: { mirror: { upstream: 'shadow', percent: 50 }, 'request-transform': { headers: { set: { 'x-env': 'prod' } } } } },
      all: { match: { paths: ['/all'] }, upstream: 'main', policies: { mirror: { upstream: 'shadow', maxConcurrent: 2 } } },
    },
  });
});
test.after.always(async () => { await gw?.stop(); await main?.close(); await shadow?.close(); });

const metric = async (outcome: string, route: string): Promise<number> => {
  const m = (await http(`${gw.statusUrl}/metrics`)).body;
  return Number(new RegExp(`gatehouse_mirror_requests_total\\{route="${route}",upstream="shadow",outcome="${outcome}"\\} (\\d+)`).exec(m)?.[1] ?? 0);
};

test.serial('percent 50: exactly every other request is copied, as the upstream receives it', async (t) => {
  for (let i = 0; i < 10; i++) t.is((await http(`${gw.url}/half/a?i=${i}`, { headers: { 'x-client': 'c' } })).status, 200);
  await waitFor(() => shadow.received.length === 5, { message: '5 copies' });
  const copy = shadow.received[0]!;
  const orig = main.received.find((r) => r.url === copy.url)!;
  t.truthy(orig);
  t.is(copy.url, '/a?i=1');
  t.is(copy.headers['x-env'], 'prod', 'transforms apply to the copy too');
  t.is(copy.headers['x-client'], 'c');
  t.is(copy.headers['x-request-id'], orig.headers['x-request-id']);
  t.is(copy.headers['x-gatehouse-mirror'], '1');
  t.is(orig.headers['x-gatehouse-mirror'], undefined);
  await waitFor(async () => (await metric('ok', 'half')) === 5, { message: 'ok counted' });
});

test.serial('a request with a streaming body is not copied', async (t) => {
  shadow.received.length = 0;
  for (let i = 0; i < 4; i++) t.is((await http(`${gw.url}/half/p`, { method: 'POST', body: 'payload' })).status, 200);
  t.is(await metric('skipped_body', 'half'), 2);
  t.is(shadow.received.length, 0);
});

test.serial('a failing or hanging mirror changes nothing for the client; copies are bounded and counted', async (t) => {
  shadow.mode = { kind: 'status', status: 500 };
  t.is((await http(`${gw.url}/all`)).status, 200);
  await waitFor(async () => (await metric('error', 'all')) === 1, { message: '5xx counted as error' });
  shadow.mode = { kind: 'hang' };
  const t0 = performance.now();
  for (let i = 0; i < 5; i++) t.is((await http(`${gw.url}/all`)).status, 200);
  t.true(performance.now() - t0 < 1000, 'the client never waits for the mirror');
  t.is(await metric('dropped', 'all'), 3, 'two copies hang, the other three are dropped');
  // The hanging copies end at the mirror's response timeout (2 s) and count as errors.
  await waitFor(async () => (await metric('error', 'all')) === 3, { timeout: 5000, message: 'timeouts counted' });
  shadow.mode = { kind: 'ok' };
  t.is((await http(`${gw.url}/all`)).status, 200);
  await waitFor(async () => (await metric('ok', 'all')) === 1, { message: 'mirror back' });
});
