/**
 * `enforce: false` over every policy, from the one declaration (PolicySpec.canDeny): a
 * policy that can refuse a request runs in shadow mode (the request it would refuse reaches
 * the upstream, and gatehouse_policy_decisions_total{outcome="shadow_deny"} counts it,
 * whether the refusal is synchronous, asynchronous (scrypt, a body read) or a preflight);
 * a policy that cannot has `enforce: false` refused by validation at its path.
 * A policy added to the registry fails this test until it has a row here.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { http } from '../helpers/http.ts';
import { policySpecs } from '../../nodes/src/policies/specs.ts';
import { validateConfig } from '../../nodes/src/validation/validate.ts';
import { hashPassword } from '../../nodes/src/policies/basic-auth/scrypt.ts';
import { rsaPair } from '../../nodes/src/policies/jwt-auth/testkit.ts';

interface Row {
  config: Record<string, unknown>;
  /** A request the policy refuses when it enforces. */
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Requests sent first (rate-limit: the one that uses the allowance). */
  before?: number;
}

const rsa = rsaPair();
const JSON_CT = { 'content-type': 'application/json' };

/** Every policy that can refuse, with a request it refuses. */
const DENY: Record<string, Row> = {
  'key-auth': { config: {} },
  'basic-auth': { config: {}, headers: { authorization: `Basic ${Buffer.from('alice:wrong').toString('base64')}` } },
  'jwt-auth': { config: { algorithms: ['RS256'], keys: [rsa.publicPem] }, headers: { authorization: 'Bearer not.a.token' } },
  acl: { config: { allow: ['staff'] } },
  'ip-restriction': { config: { deny: ['127.0.0.1'] } },
  validate: { config: { body: { type: 'object', required: ['name'] } }, method: 'POST', headers: JSON_CT, body: '{"other":1}' },
  'rate-limit': { config: { limit: 1, window: '1m', by: 'route' }, before: 1 },
  cors: { config: { origins: ['https://app.example.com'] }, method: 'OPTIONS', headers: { origin: 'https://evil.example.com', 'access-control-request-method': 'PUT' } },
};

let up: TestUpstream;
let gw: TestGateway;

test.before(async () => {
  up = await startUpstream();
  const routes: Record<string, unknown> = {};
  for (const [name, row] of Object.entries(DENY)) {
    routes[`e-${name}`] = { match: { paths: [`/e/${name}`] }, upstream: 'a', policies: { [name]: row.config } };
    routes[`s-${name}`] = { match: { paths: [`/s/${name}`] }, upstream: 'a', policies: { [name]: { ...row.config, enforce: false } } };
  }
  gw = await startGateway({
    upstreams: { a: { targets: [{ url: up.url }] } },
    consumers: { alice: { groups: ['staff'], keys: [`sha256:${createHash('sha256').update('k').digest('hex')}`], passwords: [await hashPassword('right', { N: 1024, r: 8, p: 1 })] } },
    routes: routes as never,
  });
});
test.after.always(async () => { await gw?.stop(); await up?.close(); });

async function send(path: string, row: Row): Promise<Awaited<ReturnType<typeof http>>> {
  const opts = { method: row.method ?? 'GET', headers: row.headers ?? {}, ...(row.body === undefined ? {} : { body: row.body }) };
  for (let i = 0; i < (row.before ?? 0); i++) await http(`${gw.url}${path}`, opts);
  return http(`${gw.url}${path}`, opts);
}

test('the table covers exactly the policies that declare canDeny', (t) => {
  t.deepEqual(Object.keys(DENY).sort(), [...policySpecs.values()].filter((p) => p.canDeny).map((p) => p.name).sort());
});

for (const [name, row] of Object.entries(DENY)) {
  test.serial(`${name}: refused when enforced; with enforce: false it reaches the upstream and is counted as shadow_deny`, async (t) => {
    const enforced = await send(`/e/${name}`, row);
    t.true(enforced.status >= 400, `enforced: ${enforced.status}`);
    t.is(up.received.filter((r) => r.url === `/e/${name}`).length, row.before ?? 0, 'the refused request never reached the upstream');

    const before = up.received.length;
    const shadow = await send(`/s/${name}`, row);
    t.is(shadow.status, 200, 'the upstream answered');
    const last = up.received.at(-1)!;
    t.is(up.received.length, before + 1 + (row.before ?? 0));
    t.is(last.url, `/s/${name}`);
    t.is(last.method, row.method ?? 'GET');
    if (row.body !== undefined) t.is(last.body.toString(), row.body, 'the body read for the check reaches the upstream whole');
    t.is(shadow.headers['access-control-allow-origin'], undefined, 'a shadowed policy adds nothing to the response');
    t.is(shadow.headers.ratelimit, undefined);

    const metrics = (await http(`${gw.statusUrl}/metrics`)).body;
    t.regex(metrics, new RegExp(`gatehouse_policy_decisions_total\\{route="s-${name}",policy="${name}",outcome="shadow_deny"\\} 1\\n`));
    t.regex(metrics, new RegExp(`gatehouse_policy_decisions_total\\{route="e-${name}",policy="${name}",outcome="deny"\\} 1\\n`));
  });
}

test('a policy that cannot refuse: enforce: false is refused by validation at its path', (t) => {
  const others = [...policySpecs.values()].filter((p) => !p.canDeny).map((p) => p.name);
  t.deepEqual(others.sort(), ['cache', 'grpc-transcode', 'grpc-web', 'mirror', 'request-transform', 'response-transform', 'traffic-split']);
  for (const name of others) {
    const doc = { upstreams: { a: { targets: [{ url: 'http://127.0.0.1:1' }] } }, routes: { r: { match: { paths: ['/r'] }, upstream: 'a', policies: { [name]: { enforce: false } } } } };
    t.deepEqual(validateConfig(doc).map((e) => `${e.path}: ${e.message}`), [
      `routes.r.policies.${name}.enforce: "${name}" never refuses a request, so it has no shadow mode: enforce: false is not accepted (remove the policy to turn it off)`,
    ], name);
  }
  // And one that can: accepted.
  t.deepEqual(validateConfig({ upstreams: { a: { targets: [{ url: 'http://127.0.0.1:1' }] } }, routes: { r: { match: { paths: ['/r'] }, upstream: 'a', policies: { 'key-auth': { enforce: false } } } } }), []);
});
