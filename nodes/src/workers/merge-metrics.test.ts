import test from 'ava';
import { mergeMetrics, ruleFor } from './merge-metrics.ts';
import { Metrics } from '../telemetry/metrics.ts';

const w1 = `# HELP gatehouse_requests_total Requests.
# TYPE gatehouse_requests_total counter
gatehouse_requests_total{route="a b",status_class="2xx"} 3
gatehouse_requests_total{route="x",status_class="5xx"} 1
# HELP lat Latency.
# TYPE lat histogram
lat_bucket{le="0.1"} 2
lat_bucket{le="+Inf"} 3
lat_sum 0.25
lat_count 3
# HELP gatehouse_config_revision Revision.
# TYPE gatehouse_config_revision gauge
gatehouse_config_revision 7
# HELP gatehouse_upstream_target_healthy Healthy.
# TYPE gatehouse_upstream_target_healthy gauge
gatehouse_upstream_target_healthy{target="t1"} 1
`;
const w2 = `# HELP gatehouse_requests_total Requests.
# TYPE gatehouse_requests_total counter
gatehouse_requests_total{route="a b",status_class="2xx"} 4
gatehouse_requests_total{route="y",status_class="2xx"} 2
# HELP lat Latency.
# TYPE lat histogram
lat_bucket{le="0.1"} 1
lat_bucket{le="+Inf"} 5
lat_sum 0.5
lat_count 5
# HELP gatehouse_config_revision Revision.
# TYPE gatehouse_config_revision gauge
gatehouse_config_revision 6
# HELP gatehouse_upstream_target_healthy Healthy.
# TYPE gatehouse_upstream_target_healthy gauge
gatehouse_upstream_target_healthy{target="t1"} 0
# HELP only_here Only in worker 2.
# TYPE only_here gauge
only_here 9
`;

test('counters and histograms are summed by name and labels; HELP/TYPE once; series of one worker kept', (t) => {
  t.is(mergeMetrics([w1, w2]), `# HELP gatehouse_requests_total Requests.
# TYPE gatehouse_requests_total counter
gatehouse_requests_total{route="a b",status_class="2xx"} 7
gatehouse_requests_total{route="x",status_class="5xx"} 1
gatehouse_requests_total{route="y",status_class="2xx"} 2
# HELP lat Latency.
# TYPE lat histogram
lat_bucket{le="0.1"} 3
lat_bucket{le="+Inf"} 8
lat_sum 0.75
lat_count 8
# HELP gatehouse_config_revision Revision.
# TYPE gatehouse_config_revision gauge
gatehouse_config_revision 7
# HELP gatehouse_upstream_target_healthy Healthy.
# TYPE gatehouse_upstream_target_healthy gauge
gatehouse_upstream_target_healthy{target="t1"} 0
# HELP only_here Only in worker 2.
# TYPE only_here gauge
only_here 9
`);
});

test('one worker: the text is unchanged but for blank lines', (t) => {
  t.is(mergeMetrics([w1]), w1);
});

test('rules: gauges of one shared state are not summed', (t) => {
  t.is(ruleFor('gatehouse_requests_inflight', 'gauge'), 'sum');
  t.is(ruleFor('gatehouse_config_revision', 'gauge'), 'max');
  t.is(ruleFor('gatehouse_process_start_time_seconds', 'gauge'), 'min');
  t.is(ruleFor('gatehouse_nodejs_eventloop_lag_p99_seconds', 'gauge'), 'max');
  t.is(ruleFor('gatehouse_config_revision', 'counter'), 'sum');
});

test('the real exposition of two nodes merges to twice the counts', async (t) => {
  const a = new Metrics();
  const b = new Metrics();
  for (const m of [a, b]) {
    m.routes.get('r').record(200, 0.002, 0.001);
    m.configReloads.inc({ source: 'file', result: 'applied' });
    m.configRevision.set(3);
  }
  const merged = mergeMetrics([await a.render(), await b.render()]);
  t.regex(merged, /^gatehouse_requests_total\{route="r",status_class="2xx"\} 2$/m);
  t.regex(merged, /^gatehouse_request_duration_seconds_count\{route="r"\} 2$/m);
  t.regex(merged, /^gatehouse_config_reloads_total\{source="file",result="applied"\} 2$/m);
  t.regex(merged, /^gatehouse_config_revision 3$/m);
  // Every family once.
  const types = merged.split('\n').filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2]);
  t.is(new Set(types).size, types.length);
});
