// traffic-split end to end: an exact 90/10 canary split, sticky clients, and a split to an
// upstream that does not exist refused with the config.
import test from 'ava';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { http } from '../helpers/http.ts';
import type { GatewayConfig } from '../../nodes/src/schema/model.ts';

let v1: TestUpstream;
let v2: TestUpstream;
let gw: TestGateway;

const config = (): GatewayConfig => ({
  upstreams: { v1: { targets: [{ url: v1.url }] }, v2: { targets: [{ url: v2.url }] } },
  routes: {
    canary: { match: { paths: ['/c'] }, upstream: 'v1', policies: { 'traffic-split': { upstreams: [{ name: 'v1', weight: 90 }, { name: 'v2', weight: 10 }] } } },
    sticky: { match: { paths: ['/s'] }, upstream: 'v1', policies: { 'traffic-split': { upstreams: [{ name: 'v1', weight: 50 }, { name: 'v2', weight: 50 }], sticky: 'header:x-user' } } },
  },
});

test.before(async () => {
  v1 = await startUpstream();
  v2 = await startUpstream();
  gw = await startGateway(config());
});
test.after.always(async () => { await gw?.stop(); await v1?.close(); await v2?.close(); });

test.serial('90/10: exactly 180 and 20 of 200 requests', async (t) => {
  v1.received.length = 0; v2.received.length = 0;
  for (let i = 0; i < 200; i++) t.is((await http(`${gw.url}/c`)).status, 200);
  t.is(v1.received.length, 180);
  t.is(v2.received.length, 20);
});

test.serial('sticky: one user stays on one upstream', async (t) => {
  for (const user of ['alice', 'bob', 'carol', 'dave']) {
    v1.received.length = 0; v2.received.length = 0;
    for (let i = 0; i < 10; i++) await http(`${gw.url}/s`, { headers: { 'x-user': user } });
    t.true(v1.received.length === 10 || v2.received.length === 10, `${user}: ${v1.received.length}/${v2.received.length}`);
  }
});

test.serial('a split to an unknown upstream is refused; the running config keeps serving', async (t) => {
  const bad = config();
  (bad.routes!.canary!.policies!['traffic-split'] as { upstreams: Array<{ name: string; weight: number }> }).upstreams[1]!.name = 'v3';
  gw.push(bad);
  t.deepEqual(gw.gw.configErrors.map((e) => `${e.path}: ${e.message}`), ['routes.canary.policies.traffic-split.upstreams[1].name: unknown upstream "v3"']);
  t.is((await http(`${gw.url}/c`)).status, 200);
});
