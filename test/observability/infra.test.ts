/**
 * infra/ observability files, checked with the tools that exist here: promtool for the
 * Prometheus config and alert rules (syntax and unit tests of the alerts firing), and the
 * collector config parsed and its trace pipeline checked end to end (OTLP in, batch, OTLP
 * out to Jaeger; every name a pipeline uses is defined).
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

const ROOT = new URL('../../', import.meta.url).pathname;
const promtool = (...args: string[]) => spawnSync('promtool', args, { cwd: ROOT, encoding: 'utf8' });

test('promtool check config infra/prometheus.yml (its rule file included)', (t) => {
  const r = promtool('check', 'config', 'infra/prometheus.yml');
  t.is(r.status, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /1 rule files found/);
});

test('promtool check rules infra/alerts.yml, and the alerts fire on the series they watch', (t) => {
  const r = promtool('check', 'rules', 'infra/alerts.yml');
  t.is(r.status, 0, r.stdout + r.stderr);
  const names = (parse(readFileSync(`${ROOT}infra/alerts.yml`, 'utf8')) as { groups: Array<{ rules: Array<{ alert: string }> }> }).groups.flatMap((g) => g.rules.map((x) => x.alert));
  for (const a of ['GatehouseHigh5xxRatio', 'GatehouseHighP99Latency', 'GatehouseBreakerOpen', 'GatehouseNodeMissing', 'GatehouseConfigRejected']) t.true(names.includes(a), a);
  const u = promtool('test', 'rules', 'test/observability/alerts.rules-test.yml');
  t.is(u.status, 0, u.stdout + u.stderr);
});

test('collector config: OTLP/HTTP in on 4318, batch, OTLP out to Jaeger; every pipeline name defined', (t) => {
  const c = parse(readFileSync(`${ROOT}infra/otel-collector.yaml`, 'utf8')) as Record<string, any>;
  t.regex(c.receivers.otlp.protocols.http.endpoint, /:4318$/);
  const p = c.service.pipelines.traces;
  t.deepEqual(p.receivers, ['otlp']);
  t.true(p.processors.includes('batch'));
  t.true(p.processors.indexOf('memory_limiter') === 0, 'memory_limiter first (collector guidance)');
  t.is(p.exporters.length, 1);
  const exp = c.exporters[p.exporters[0]];
  t.regex(p.exporters[0], /^otlp(\/|$)/);
  t.regex(exp.endpoint, /^jaeger:4317$/);
  for (const kind of ['receivers', 'processors', 'exporters'] as const) for (const name of p[kind]) t.truthy(c[kind][name], `${kind}.${name} is defined`);
  for (const e of c.service.extensions ?? []) t.truthy(c.extensions[e], `extensions.${e} is defined`);
});
