import test from 'ava';
import { parseMetrics, p99 } from './data.ts';
import { nodeStatus, Sightings } from '../status.ts';
import { nodeEntry } from '../../store/config-store.ts';
import { nodeState, statusLines, type NodeView } from '../../cli/gatewayctl/convergence.ts';

test('parseMetrics: request counts by route (5xx apart), latency buckets, CPU, rate-limit and cache counters', (t) => {
  const s = parseMetrics([
    '# HELP gatehouse_requests_total x',
    'gatehouse_requests_total{route="a",status_class="2xx"} 90',
    'gatehouse_requests_total{route="a",status_class="5xx"} 10',
    'gatehouse_requests_total{route="b\\"q",status_class="4xx"} 3',
    'gatehouse_request_duration_seconds_bucket{route="a",le="0.005"} 50',
    'gatehouse_request_duration_seconds_bucket{route="a",le="0.05"} 98',
    'gatehouse_request_duration_seconds_bucket{route="a",le="0.5"} 100',
    'gatehouse_request_duration_seconds_bucket{route="a",le="+Inf"} 100',
    'gatehouse_process_cpu_seconds_total 12.5',
    'gatehouse_rate_limited_total{route="a",outcome="limited"} 4',
    'gatehouse_cache_requests_total{route="a",result="hit"} 7',
    'gatehouse_cache_requests_total{route="b",result="hit"} 1',
  ].join('\n'), 0);
  t.deepEqual([...s.reqs], [['a', [100, 10]], ['b"q', [3, 0]]]);
  t.is(s.cpu, 12.5);
  t.deepEqual(Object.fromEntries(s.counters), { 'gatehouse_rate_limited_total{outcome="limited"}': 4, 'gatehouse_cache_requests_total{result="hit"}': 8 });
  t.is(p99(s.buckets.get('a')!), 0.5);
  t.is(p99(new Map([[0.01, 0], [Infinity, 0]])), null);
});

test('a node is stale once its heartbeat is older than 1.5 periods; nodes without heartbeats never are', (t) => {
  const now = Date.parse('2026-01-01T00:00:10.000Z');
  const at = (ms: number) => nodeEntry('n1', { revision: 5, heartbeatMs: 1000, lastHeartbeat: new Date(now - ms).toISOString() });
  t.like(nodeStatus(at(1400), 5, now), { stale: false, lastSeenMs: 1400, behind: false });
  t.like(nodeStatus(at(1600), 6, now), { stale: true, lastSeenMs: 1600, behind: true });
  t.like(nodeStatus(nodeEntry('old', { revision: 5 }), 5, now), { stale: false, lastSeenMs: null });
  // A membership value is read field by field: junk becomes defaults, not a crash.
  t.like(nodeEntry('x', { revision: 'nope', refused: 'no', skipped: [1, { key: 'k', errors: ['e'] }], nats: { connected: 'yes' } }),
    { revision: 0, refused: null, skipped: [{ key: 'k', errors: ['e'] }], nats: { connected: false, lastSeen: null } });
});

test('status states: stale over refused over behind; a refusal superseded by a newer served revision is history', (t) => {
  const n = (o: Partial<NodeView>): NodeView => ({ id: 'n1', address: 'a', version: 'v', revision: 10, status: '', behind: false, stale: false, lastSeenMs: 100, refused: null, skipped: [], nats: null, ...o });
  t.is(nodeState(n({}), 10), 'serving');
  t.is(nodeState(n({ revision: 9 }), 10), 'behind');
  t.is(nodeState(n({ revision: 9, refused: { revision: 10, errors: ['x'], at: '' } }), 10), 'refused');
  t.is(nodeState(n({ refused: { revision: 8, errors: ['x'], at: '' } }), 10), 'serving');
  t.is(nodeState(n({ stale: true, revision: 9, refused: { revision: 10, errors: [], at: '' } }), 10), 'stale');
  t.is(nodeState(n({ skipped: [{ key: 'k', errors: ['bad'] }] }), 10), 'skipping');
  const lines = statusLines({ revision: 12, configRevision: 10, prefix: '/g', time: '', behind: 0, stale: 0, nodes: [n({ skipped: [{ key: '/g/routes/x', errors: ['routes.x.match: bad'] }] })] });
  t.deepEqual(lines.slice(-1), ['n1 skips /g/routes/x: routes.x.match: bad']);
});

test('with regular looks, a skewed node clock neither hides a dead node nor makes a live one stale', (t) => {
  const sightings = new Sightings();
  const entry = (beatAt: number) => nodeEntry('n1', { revision: 1, heartbeatMs: 1000, lastHeartbeat: new Date(beatAt).toISOString() });
  // Node clock 10 s behind: every beat looks 10 s old, but each changed since the last look 1 s ago.
  let now = 1_000_000;
  t.true(nodeStatus(entry(now - 10_000), 1, now, sightings.bounds).stale, 'a single look trusts the clocks');
  for (let i = 1; i <= 3; i++) {
    now += 1000;
    t.like(nodeStatus(entry(now - 10_000 - 200), 1, now, sightings.bounds), { stale: false, lastSeenMs: 1000 });
  }
  // Node clock 10 s ahead, then the node dies: its last beat looks fresh, but stays the same value.
  const ahead = new Sightings();
  const last = now + 10_000;
  t.false(nodeStatus(entry(last), 1, now, ahead.bounds).stale);
  now += 1000;
  t.like(nodeStatus(entry(last), 1, now, ahead.bounds), { stale: false, lastSeenMs: 1000 });
  now += 1000;
  t.like(nodeStatus(entry(last), 1, now, ahead.bounds), { stale: true, lastSeenMs: 2000 });
});
