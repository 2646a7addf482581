// infra/ cannot be started here (no container engine), so these tests read what would run and
// check that the pieces fit: the Dockerfile's stages, user and Node major; compose's images,
// ports, mounts, commands and the node config they mount (validated by `gatehouse validate`);
// the Kubernetes manifests' probes, ports, labels, ConfigMap, Secret and env references.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';
import { parse, parseAllDocuments } from 'yaml';
import { parseDuration } from '../../nodes/src/schema/duration.ts';
import { TOKEN_ENV } from '../../control/src/admin-api/auth.ts';
import { COMPILE_CACHE_ENV, GATEHOUSE_BIN } from '../helpers/cluster.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const INFRA = join(ROOT, 'infra');
const read = (p: string): string => readFileSync(join(ROOT, p), 'utf8');
const yamlOf = (p: string): any => parse(read(p), { merge: true });

/** `gatehouse validate --config FILE`: exit code and output. */
async function validate(file: string): Promise<{ code: number; out: string }> {
  try {
    const r = await promisify(execFile)(process.execPath, [GATEHOUSE_BIN, 'validate', '--config', file], { env: { ...process.env, ...COMPILE_CACHE_ENV } });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

const port = (hostPort: string): number => Number(hostPort.slice(hostPort.lastIndexOf(':') + 1));
const urlHostPort = (u: string): string => { const x = new URL(u); return `${x.hostname}:${x.port}`; };

// ---------------------------------------------------------------------------------------------
// Dockerfile

interface Stage { from: string; name: string | undefined; lines: Array<{ op: string; args: string }> }

function dockerfile(): Stage[] {
  const text = read('Dockerfile').replace(/\\\n/g, ' ');
  const stages: Stage[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^([A-Z]+)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`Dockerfile: cannot read "${line}"`);
    const [, op, args] = m as unknown as [string, string, string];
    if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args)!;
      stages.push({ from: f[1]!, name: f[2], lines: [] });
    } else stages.at(-1)!.lines.push({ op, args });
  }
  return stages;
}

test('Dockerfile: multi-stage on Node 24 (the engines range), production deps only, non-root, the gatehouse CLI', (t) => {
  const stages = dockerfile();
  t.true(stages.length >= 2, 'a build stage and a runtime stage');
  const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;
  t.regex(engines, />=24 <25/);
  for (const s of stages) t.regex(s.from, /^node:24[.-]/, `stage ${s.name}: FROM ${s.from}`);
  const [build, runtime] = [stages[0]!, stages.at(-1)!];
  const runs = build.lines.filter((l) => l.op === 'RUN').map((l) => l.args).join('\n');
  t.regex(runs, /npm ci\b[^\n]*--omit=dev/, 'npm ci without dev dependencies');
  t.regex(runs, /gatehouse --help/, 'the build checks that the CLI loads');
  t.true(runtime.lines.some((l) => l.op === 'COPY' && l.args.includes(`--from=${build.name}`)), 'runtime copies from the build stage');
  t.false(runtime.lines.some((l) => l.op === 'RUN' && /npm (ci|install)/.test(l.args)), 'no npm install in the runtime stage');
  const user = runtime.lines.filter((l) => l.op === 'USER').at(-1)?.args;
  t.truthy(user, 'USER set in the runtime stage');
  t.notRegex(user!, /^(root|0)(:|$)/);
  const cmd = JSON.parse(runtime.lines.find((l) => l.op === 'CMD')!.args) as string[];
  t.deepEqual(cmd.slice(0, 3), ['gatehouse', 'start', '--config']);
  const expose = runtime.lines.filter((l) => l.op === 'EXPOSE').flatMap((l) => l.args.split(/\s+/)).map(Number);
  t.deepEqual(expose.sort(), [8080, 9080]);
  const hc = runtime.lines.find((l) => l.op === 'HEALTHCHECK')?.args ?? '';
  t.regex(hc, /127\.0\.0\.1:9080\/healthz/);
  // Every COPY source from the context exists and is not excluded by .dockerignore.
  const ignored = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  t.true(['**/node_modules', '.git', 'test'].every((x) => ignored.includes(x)), '.dockerignore keeps node_modules, .git and tests out');
  for (const l of build.lines.filter((x) => x.op === 'COPY' && !x.args.startsWith('--from'))) {
    const parts = l.args.split(/\s+/).filter((p) => !p.startsWith('--'));
    for (const src of parts.slice(0, -1)) {
      t.true(existsSync(join(ROOT, src)), `COPY ${src}: exists`);
      t.false(ignored.some((ig) => src === ig || src.startsWith(`${ig}/`)), `COPY ${src}: not in .dockerignore`);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// compose

// Written by the observability work (another branch): mounted here by name, checked there.
const OBSERVABILITY_FILES = new Set(['./otel-collector.yaml', './prometheus.yml', './alerts.yml']);

test('compose: every service, pinned images, mounts that exist, one image built from the Dockerfile', (t) => {
  const c = yamlOf('infra/compose.yaml');
  const s = c.services as Record<string, any>;
  for (const name of ['etcd', 'nats', 'node1', 'node2', 'node3', 'haproxy', 'admin', 'seed', 'echo', 'otel-collector', 'jaeger', 'prometheus']) t.truthy(s[name], `service ${name}`);
  for (const [name, svc] of Object.entries(s)) {
    t.regex(svc.image, /^[\w./-]+:[\w.-]+$/, `${name}: image with a tag`);
    t.notRegex(svc.image, /:latest$/, `${name}: not :latest`);
    if (svc.build) {
      t.is(svc.image, 'gatehouse:local');
      t.true(existsSync(join(INFRA, svc.build.context, svc.build.dockerfile)), `${name}: builds the repository's Dockerfile`);
    }
    for (const v of svc.volumes ?? []) {
      const [src] = String(v).split(':');
      if (!src!.startsWith('.')) continue; // a named volume
      if (OBSERVABILITY_FILES.has(src!)) continue;
      t.true(existsSync(join(INFRA, src!)), `${name}: mounts ${src}, which exists`);
    }
    for (const p of svc.ports ?? []) t.regex(String(p), /^127\.0\.0\.1:/, `${name}: publishes ${p} on loopback only`);
  }
  t.deepEqual(s['otel-collector'].volumes, ['./otel-collector.yaml:/etc/otelcol/config.yaml:ro']);
  t.true(s.prometheus.volumes.includes('./prometheus.yml:/etc/prometheus/prometheus.yml:ro'));
  t.true(s.prometheus.volumes.includes('./alerts.yml:/etc/prometheus/alerts.yml:ro'));
  t.regex(s.haproxy.image, /^haproxy:2\.([6-9]|\d\d)/);
});

test('compose: the nodes run the Dockerfile CMD on a config that validates and points at compose etcd, NATS and HAProxy', async (t) => {
  const s = yamlOf('infra/compose.yaml').services as Record<string, any>;
  const cmd = JSON.parse(dockerfile().at(-1)!.lines.find((l) => l.op === 'CMD')!.args) as string[];
  const cfgPath = cmd[cmd.indexOf('--config') + 1]!;
  const hap = read('infra/haproxy/haproxy.cfg');
  for (const n of [1, 2, 3]) {
    const node = s[`node${n}`];
    t.deepEqual(node.command, cmd, `node${n} runs the image's CMD`);
    t.is(node.hostname, `node${n}`);
    const mount = (node.volumes as string[]).find((v) => v.split(':')[1] === cfgPath);
    t.is(mount, `./gateway.yaml:${cfgPath}:ro`);
    // HAProxy's defaults reach this node by these names and ports.
    t.true(hap.includes(`"\${GATEHOUSE_NODE${n}_ADDR-node${n}:8080}"`));
    t.true(hap.includes(`"\${GATEHOUSE_NODE${n}_STATUS_PORT-9080}"`));
  }
  const v = await validate(join(INFRA, 'gateway.yaml'));
  t.is(v.code, 0, v.out);
  const cfg = yamlOf('infra/gateway.yaml').node;
  t.is(port(cfg.listen), 8080);
  t.is(port(cfg.status), 9080);
  t.regex(cfg.listen, /^0\.0\.0\.0:/, 'reachable from HAProxy');
  // etcd and NATS: the services' names and the ports they listen on.
  const etcdListen = (s.etcd.command as string[]).find((a) => a.startsWith('--listen-client-urls='))!.split('=')[1]!;
  t.is(urlHostPort(cfg.cluster.etcd.endpoints[0]), `etcd:${new URL(etcdListen).port}`);
  const natsPort = s.nats.command[s.nats.command.indexOf('-p') + 1];
  t.is(urlHostPort(cfg.cluster.nats.servers[0]), `nats:${natsPort}`);
  // X-Forwarded-For from HAProxy is believed: it is on the compose network.
  const subnet = yamlOf('infra/compose.yaml').networks.gatehouse.ipam.config[0].subnet;
  t.true(cfg.trustedProxies.includes(subnet));
  // docker stop waits longer than the node drains.
  t.true(parseDuration(s.node1.stop_grace_period) > parseDuration(cfg.drainTimeout));
  t.regex(cfg.cluster.snapshot, /^\/var\/lib\/gatehouse\//, 'the snapshot goes where the image lets the node user write');
  t.regex(read('Dockerfile'), /chown node:node \/var\/lib\/gatehouse/);
  // HAProxy: the published port is the one it binds, and the cluster load test's default target.
  t.true(hap.includes('"${GATEHOUSE_LB_BIND-:8000}"'));
  t.true(s.haproxy.ports.includes('127.0.0.1:8000:8000'));
  t.true(s.haproxy.volumes.includes('./haproxy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro'));
  t.regex(read('loadtest/requests.js'), /cluster: 'http:\/\/127\.0\.0\.1:8000\/hello'/);
});

test('compose: admin API, seed and echo fit together (token env name, URLs, ports, cluster config valid)', async (t) => {
  const s = yamlOf('infra/compose.yaml').services as Record<string, any>;
  t.true(Object.keys(s.admin.environment).includes(TOKEN_ENV), `admin gets ${TOKEN_ENV}`);
  t.true(Object.keys(s.seed.environment).includes(TOKEN_ENV));
  t.regex(s.admin.environment[TOKEN_ENV], /^\$\{GATEHOUSE_ADMIN_TOKEN:\?/, 'compose refuses to start without a token: none is stored here');
  const args = s.admin.command as string[];
  t.deepEqual(args.slice(0, 2), ['gatewayctl', 'serve']);
  t.is(args[args.indexOf('--etcd') + 1], yamlOf('infra/gateway.yaml').node.cluster.etcd.endpoints[0]);
  t.is(args[args.indexOf('--prefix') + 1], yamlOf('infra/gateway.yaml').node.cluster.etcd.prefix);
  t.is(urlHostPort(s.seed.environment.GATEHOUSE_ADMIN_URL), `admin:${port(args[args.indexOf('--listen') + 1]!)}`);
  t.regex(s.seed.command.join(' '), /gatewayctl apply -f \/etc\/gatehouse\/cluster\.yaml/);
  const v = await validate(join(INFRA, 'cluster.yaml'));
  t.is(v.code, 0, v.out);
  const target = yamlOf('infra/cluster.yaml').upstreams.echo.targets[0].url;
  t.is(urlHostPort(target), `echo:${s.echo.environment.PORT}`);
  t.is(s.echo.environment.HOST, '0.0.0.0');
  t.regex(read('examples/echo-upstream.ts'), /process\.env\.HOST/);
});

// ---------------------------------------------------------------------------------------------
// Kubernetes

function k8s(): { kustomization: any; objects: any[] } {
  const kustomization = yamlOf('infra/k8s/kustomization.yaml');
  const objects = (kustomization.resources as string[]).flatMap((f) => parseAllDocuments(read(`infra/k8s/${f}`)).map((d) => d.toJS()));
  return { kustomization, objects };
}
const find = (objs: any[], kind: string, name: string): any => objs.find((o) => o.kind === kind && o.metadata.name === name);
const matches = (selector: Record<string, string>, labels: Record<string, string>): boolean => Object.entries(selector).every(([k, v]) => labels[k] === v);

test('k8s: the node Deployment probes /readyz and /healthz on the status port its ConfigMap config sets', async (t) => {
  const { kustomization, objects } = k8s();
  t.is(kustomization.kind, 'Kustomization');
  const dep = find(objects, 'Deployment', 'gatehouse');
  t.truthy(dep);
  const pod = dep.spec.template.spec;
  const ctr = pod.containers[0];
  const cmd = JSON.parse(dockerfile().at(-1)!.lines.find((l) => l.op === 'CMD')!.args) as string[];
  t.deepEqual(ctr.args, cmd, 'runs the image CMD');
  t.true(kustomization.images.some((i: any) => i.name === ctr.image), 'the image is set by kustomize');
  // The ConfigMap: generated from gateway.yaml, which validates; mounted where --config points.
  const gen = kustomization.configMapGenerator.find((g: any) => g.name === 'gatehouse-config');
  t.deepEqual(gen.files, ['gateway.yaml']);
  const v = await validate(join(INFRA, 'k8s', 'gateway.yaml'));
  t.is(v.code, 0, v.out);
  const cfg = yamlOf('infra/k8s/gateway.yaml').node;
  const cfgVolume = pod.volumes.find((x: any) => x.configMap?.name === 'gatehouse-config');
  const cfgMount = ctr.volumeMounts.find((m: any) => m.name === cfgVolume.name);
  const cfgPath = cmd[cmd.indexOf('--config') + 1]!;
  t.is(posix.join(cfgMount.mountPath, 'gateway.yaml'), cfgPath);
  t.is(cfgMount.readOnly, true);
  // Ports: named container ports are the config's listen and status ports.
  const ports = Object.fromEntries(ctr.ports.map((p: any) => [p.name, p.containerPort]));
  t.is(ports.proxy, port(cfg.listen));
  t.is(ports.status, port(cfg.status));
  t.deepEqual(ctr.readinessProbe.httpGet, { path: '/readyz', port: 'status' });
  t.deepEqual(ctr.livenessProbe.httpGet, { path: '/healthz', port: 'status' });
  // Drain: preStop sleep, then SIGTERM and node.drainTimeout, all inside the grace period.
  const preStop = Number(ctr.lifecycle.preStop.exec.command[1]);
  t.true(pod.terminationGracePeriodSeconds * 1000 > preStop * 1000 + parseDuration(cfg.drainTimeout));
  // Non-root, read-only root: the snapshot and /tmp (compile cache) are writable volumes.
  t.true(pod.securityContext.runAsNonRoot);
  t.not(pod.securityContext.runAsUser, 0);
  t.true(ctr.securityContext.readOnlyRootFilesystem);
  const writable = ctr.volumeMounts.filter((m: any) => !m.readOnly).map((m: any) => m.mountPath);
  t.true(writable.includes(dirname(cfg.cluster.snapshot)));
  t.true(writable.includes('/tmp'));
  // The V8 heap is capped under the container's memory limit (collect before the OOM kill).
  const heapCap = /--max-old-space-size=(\d+)/.exec(ctr.env.find((e: any) => e.name === 'NODE_OPTIONS')?.value ?? '');
  t.truthy(heapCap, 'NODE_OPTIONS caps the heap');
  const limitMi = Number(/^(\d+)Mi$/.exec(ctr.resources.limits.memory)![1]);
  t.true(Number(heapCap![1]) <= limitMi * 0.8, `heap cap ${heapCap![1]} MB under the ${limitMi}Mi limit`);
  // Service and PodDisruptionBudget select these pods; the Service targets named ports.
  const labels = dep.spec.template.metadata.labels;
  t.true(matches(dep.spec.selector.matchLabels, labels));
  const svc = find(objects, 'Service', 'gatehouse');
  t.true(matches(svc.spec.selector, labels));
  for (const p of svc.spec.ports) t.true(p.targetPort in ports, `Service port ${p.name} -> ${p.targetPort}`);
  const pdb = find(objects, 'PodDisruptionBudget', 'gatehouse');
  t.true(matches(pdb.spec.selector.matchLabels, labels));
  t.true(pdb.spec.maxUnavailable === 1 || pdb.spec.minAvailable >= 1);
  t.true(dep.spec.replicas > (pdb.spec.maxUnavailable ?? 0));
});

test('k8s: the admin API takes its token from a Secret and etcd from the config the nodes use', (t) => {
  const { kustomization, objects } = k8s();
  const dep = find(objects, 'Deployment', 'gatehouse-admin');
  const ctr = dep.spec.template.spec.containers[0];
  const env = Object.fromEntries(ctr.env.map((e: any) => [e.name, e]));
  t.deepEqual(env[TOKEN_ENV].valueFrom, { secretKeyRef: { name: 'gatehouse-admin-token', key: 'token' } });
  t.false(objects.some((o) => o.kind === 'Secret'), 'no token is stored in the manifests');
  // Every $(VAR) in the args is defined, and every ConfigMap key it reads exists.
  for (const a of ctr.args as string[]) for (const m of a.matchAll(/\$\((\w+)\)/g)) t.truthy(env[m[1]!], `$(${m[1]}) defined`);
  const cluster = Object.fromEntries((kustomization.configMapGenerator.find((g: any) => g.name === 'gatehouse-cluster').literals as string[]).map((l) => l.split(/=(.*)/s).slice(0, 2)));
  for (const e of ctr.env) if (e.valueFrom?.configMapKeyRef) t.truthy(cluster[e.valueFrom.configMapKeyRef.key], `key ${e.valueFrom.configMapKeyRef.key}`);
  // The admin API and the nodes agree on where etcd and NATS are.
  const cfg = yamlOf('infra/k8s/gateway.yaml').node.cluster;
  t.is(cluster['etcd-endpoints'], cfg.etcd.endpoints.join(','));
  t.is(cluster['etcd-prefix'], cfg.etcd.prefix);
  t.is(cluster['nats-servers'], cfg.nats.servers.join(','));
  t.deepEqual(ctr.args.slice(0, 2), ['gatewayctl', 'serve']);
  const listen = ctr.args[ctr.args.indexOf('--listen') + 1];
  const ports = Object.fromEntries(ctr.ports.map((p: any) => [p.name, p.containerPort]));
  t.is(ports.admin, port(listen));
  const svc = find(objects, 'Service', 'gatehouse-admin');
  t.true(matches(svc.spec.selector, dep.spec.template.metadata.labels));
  t.is(svc.spec.type ?? 'ClusterIP', 'ClusterIP', 'the admin API is not exposed outside the cluster');
  t.true(dep.spec.template.spec.securityContext.runAsNonRoot);
});
