import test from 'ava';
import { trafficSplit } from './index.ts';
import { HashedWeighted, SmoothWeighted } from './pick.ts';
import { fnv1a } from '../../upstream/balancers.ts';
import { fakeContext, fakeDeps, type FakeRequest } from '../../../../test/helpers/fake-request.ts';
import { compileSchema } from '../../schema/validate.ts';
import { UpstreamRuntime } from '../../upstream/upstream.ts';
import { PoolRegistry } from '../../upstream/target.ts';
import type { PolicyHandlers } from '../../request/policy.ts';

const pools = new PoolRegistry();
const upstreams = new Map(['v1', 'v2', 'v3'].map((n, i) => [n, new UpstreamRuntime(n, { targets: [{ url: `http://127.0.0.1:${9001 + i}` }] }, pools)]));
test.after.always(() => pools.closeAll());

function make(cfg: Record<string, unknown>): PolicyHandlers {
  const v = compileSchema(trafficSplit.schema);
  if (!v(cfg)) throw new Error(JSON.stringify(v.errors));
  return trafficSplit.create(cfg as never, fakeDeps({ upstreams }));
}

function pick(h: PolicyHandlers, r: FakeRequest = {}, consumer?: string): string {
  const ctx = fakeContext(r);
  if (consumer) ctx.consumer = { name: consumer, groups: [] };
  h.request!(ctx);
  return ctx.upstream!.name;
}

test('90/10: exactly 90 and 10 of every 100 requests, interleaved', (t) => {
  const h = make({ upstreams: [{ name: 'v1', weight: 90 }, { name: 'v2', weight: 10 }] });
  for (let round = 0; round < 3; round++) {
    const seen: string[] = [];
    for (let i = 0; i < 100; i++) seen.push(pick(h));
    t.is(seen.filter((s) => s === 'v2').length, 10);
    // Smooth: never two v2 picks within 5 requests of each other.
    const at = seen.flatMap((s, i) => (s === 'v2' ? [i] : []));
    t.true(at.every((v, i) => i === 0 || v - at[i - 1]! >= 5), JSON.stringify(at));
  }
});

test('unknown upstream (load time) or all weights 0 (validation) are refused', (t) => {
  t.throws(() => make({ upstreams: [{ name: 'v1', weight: 1 }, { name: 'nope', weight: 1 }] }), { message: 'routes.r.policies.traffic-split.upstreams[1].name: unknown upstream "nope"' });
  t.deepEqual(trafficSplit.check!({ upstreams: [{ name: 'v1', weight: 0 }] }, { routeName: 'r', doc: {}, path: 'routes.r.policies.traffic-split' }),
    [{ path: 'routes.r.policies.traffic-split.upstreams', message: 'at least one weight must be above 0' }]);
});

test('weight 0 takes nothing; a single live upstream takes all', (t) => {
  const h = make({ upstreams: [{ name: 'v1', weight: 0 }, { name: 'v2', weight: 5 }] });
  for (let i = 0; i < 10; i++) t.is(pick(h), 'v2');
});

test('sticky: the same key always lands on the same upstream; shares follow the weights', (t) => {
  const h = make({ upstreams: [{ name: 'v1', weight: 80 }, { name: 'v2', weight: 20 }], sticky: 'header:x-user' });
  const counts: Record<string, number> = { v1: 0, v2: 0 };
  for (let i = 0; i < 5000; i++) {
    const first = pick(h, { headers: { 'x-user': 'u' + i } });
    t.is(pick(h, { headers: { 'x-user': 'u' + i } }), first);
    counts[first]!++;
  }
  t.true(counts.v2! > 850 && counts.v2! < 1150, JSON.stringify(counts));
  // No header: the client IP decides, still stable.
  t.is(pick(h, { remoteAddress: '10.9.9.9' }), pick(h, { remoteAddress: '10.9.9.9' }));
  const c = make({ upstreams: [{ name: 'v1', weight: 1 }, { name: 'v2', weight: 1 }, { name: 'v3', weight: 1 }], sticky: 'consumer' });
  t.is(pick(c, {}, 'alice'), pick(c, { remoteAddress: '10.1.1.1' }, 'alice'));
});

test('pickers', (t) => {
  const s = new SmoothWeighted([{ value: 'a', weight: 5 }, { value: 'b', weight: 1 }, { value: 'c', weight: 1 }]);
  t.deepEqual(Array.from({ length: 7 }, () => s.next()), ['a', 'a', 'b', 'a', 'c', 'a', 'a']);
  t.is(fnv1a(''), 0x811c9dc5);
  t.is(fnv1a('a'), 0xe40c292c);
  const hw = new HashedWeighted([{ value: 'x', weight: 0 }, { value: 'y', weight: 3 }]);
  t.is(hw.pick('anything'), 'y');
});

