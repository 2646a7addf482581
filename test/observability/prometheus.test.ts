/**
 * A real Prometheus (Debian's) scrapes a gateway node and a `--workers 2` node; the request
 * counter is read back through its HTTP API. `promtool check metrics` passes on both
 * nodes' /metrics.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway } from '../helpers/gateway.ts';
import { startUpstream } from '../helpers/upstream.ts';
import { http } from '../helpers/http.ts';
import { freePort } from '../helpers/ports.ts';
import { waitFor } from '../helpers/wait.ts';
import { spawnTracked, killTracked } from '../helpers/child.ts';
import { startWorkersNode, recordingUpstream, fresh } from '../helpers/workers.ts';

const promtoolMetrics = (text: string) => spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });

test('Prometheus scrapes a node and a two-worker node; the request counter comes back from its API', async (t) => {
  t.timeout(120_000); // starts a two-worker node and Prometheus: slow on a loaded machine
  const up = await startUpstream();
  t.teardown(() => up.close());
  const gw = await startGateway({
    node: { tracing: { endpoint: `http://127.0.0.1:${await freePort()}/v1/traces`, sampleRatio: 0.5 } },
    upstreams: { a: { targets: [{ url: up.url }], circuitBreaker: { failures: 5 } } },
    routes: {
      api: { match: { paths: ['/api'] }, upstream: 'a', policies: { 'rate-limit': { limit: 3, window: '1m', by: 'ip' } } },
      cached: { match: { paths: ['/cached'] }, upstream: 'a', policies: { cache: { ttl: '1h' } } },
    },
  } as never);
  t.teardown(() => gw.stop());
  for (let i = 0; i < 5; i++) await http(`${gw.url}/api`);
  for (let i = 0; i < 2; i++) await http(`${gw.url}/cached`);
  await http(`${gw.url}/nowhere`);

  const rec = await recordingUpstream(t);
  const workers = await startWorkersNode(t, 2, `upstreams: { a: { targets: [{ url: "http://127.0.0.1:${rec.port}" }] } }\nroutes: { w: { match: { paths: ["/w"] }, upstream: a } }\n`);
  // Both workers up (the primary's readyz and its worker count), then traffic on fresh connections.
  await waitFor(async () => (await http(`http://127.0.0.1:${workers.status}/readyz`)).status === 200
    && /gatehouse_workers\{state="running"\} 2/.test((await http(`http://127.0.0.1:${workers.status}/metrics`)).body),
  { timeout: 45_000, interval: 100, message: `two workers ready\n${workers.proc.output()}` });
  for (let i = 0; i < 6; i++) t.is((await fresh(workers.port, '/w')).status, 200);

  // The text both expose passes promtool's lint (names, units, help, types).
  for (const url of [`${gw.statusUrl}/metrics`, `http://127.0.0.1:${workers.status}/metrics`]) {
    const text = (await http(url)).body;
    const r = promtoolMetrics(text);
    t.is(r.status, 0, `${url}: ${r.stdout}${r.stderr}`);
  }

  const dir = mkdtempSync(join(tmpdir(), 'gh-prom-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const gwStatus = new URL(gw.statusUrl).host;
  writeFileSync(join(dir, 'prometheus.yml'), [
    'global: { scrape_interval: 1s, evaluation_interval: 1s }',
    'scrape_configs:',
    `  - { job_name: node, static_configs: [{ targets: ['${gwStatus}'] }] }`,
    `  - { job_name: workers, static_configs: [{ targets: ['127.0.0.1:${workers.status}'] }] }`,
    '',
  ].join('\n'));
  const port = await freePort();
  const prom = spawnTracked('prometheus', [
    `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn',
  ]);
  t.teardown(() => killTracked(prom, 'SIGTERM'));
  const query = async (q: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> => {
    const r = await http(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(q)}`);
    const j = r.json();
    if (j.status !== 'success') throw new Error(r.body);
    return j.data.result;
  };
  const both = await waitFor(async () => {
    const r = await query('up');
    return r.length === 2 && r.every((x) => x.value[1] === '1') ? r : undefined;
  }, { timeout: 25_000, interval: 250, message: `both targets up\n${prom.output()}` });
  t.is(both.length, 2);

  const node = await waitFor(async () => (await query('sum(gatehouse_requests_total{job="node"})'))[0], { timeout: 15_000, interval: 250 });
  t.is(Number(node.value[1]), 8); // 5 api (3 ok + 2 limited), 2 cached, 1 unmatched
  const limited = (await query('sum(gatehouse_requests_total{job="node",route="api",status_class="4xx"})'))[0]!;
  t.is(Number(limited.value[1]), 2);
  const w = await waitFor(async () => (await query('sum(gatehouse_requests_total{job="workers",route="w"})'))[0], { timeout: 15_000, interval: 250 });
  t.true(Number(w.value[1]) >= 6, `workers counted ${w.value[1]}`);
  // Operator series are there: breaker state, cache results, rate-limit decisions, config revision, event-loop lag.
  for (const q of ['gatehouse_upstream_breaker_state{job="node"}', 'gatehouse_cache_requests_total{result="hit"}', 'gatehouse_rate_limited_total{outcome="limited"}', 'gatehouse_config_revision{job="node"}', 'gatehouse_nodejs_eventloop_lag_seconds{job="node"}', 'gatehouse_requests_inflight{job="node"}', 'gatehouse_tracing_sample_ratio']) {
    t.true((await query(q)).length > 0, q);
  }
});
