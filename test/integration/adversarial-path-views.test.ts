/**
 * Adversarial suite: one path as the upstream sees it (docs/security.md "Path views").
 *
 * Setup: a protected `/admin`, `/admin/*` (key-auth) and a public catch-all `/*` on the SAME
 * upstream, which reads paths more loosely than RFC 3986. Two real upstreams:
 *  - Fastify (find-my-way) configured case-insensitive, trailing-slash and duplicate-slash
 *    lenient, with `;` as a delimiter (Java-style path parameters);
 *  - Python's wsgiref (the standard library's WSGI server) with an app whose own router
 *    decodes PATH_INFO, treats `\` as `/`, strips `;params` per segment, merges `//`,
 *    resolves dot segments and ignores case and a trailing slash: the loosest reading.
 * Each upstream counts the requests its protected handler served. For every view (case, `;`,
 * trailing slash, `%2F`, `%2e`, `//`, `\`) the test first shows the spelling DOES reach the
 * protected handler when sent to the upstream directly (so the view is real), then that
 * through the gateway without a key it is refused (401 by the protected route, or 400) and
 * the protected handler's count does not move. With the key, the spellings the gateway
 * accepts reach the protected handler with the path the gateway authorised.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { send, get, assertProblem, parseResponses, type RawResponse } from '../helpers/adversary.ts';
import { raw } from '../helpers/http.ts';
import { spawnTracked, killTracked, type Tracked } from '../helpers/child.ts';
import { freePort, isListening } from '../helpers/ports.ts';
import { waitFor } from '../helpers/wait.ts';

const KEY = 'path-views-admin-key';

// A WSGI app: which handler serves a path is decided by a deliberately loose router.
const WSGI_APP = String.raw`
import json, posixpath, re, sys
from wsgiref.simple_server import make_server, WSGIRequestHandler

hits = {'admin': 0, 'public': 0}

def route(path_info):
    p = path_info.replace('\\', '/')
    p = '/'.join(seg.split(';')[0] for seg in p.split('/'))
    p = re.sub('/+', '/', p)
    p = posixpath.normpath(p).lower()
    return 'admin' if p == '/admin' or p.startswith('/admin/') else 'public'

def app(environ, start_response):
    path = environ.get('PATH_INFO', '')
    if path == '/__hits':
        body = json.dumps(hits)
    else:
        handler = route(path)
        hits[handler] += 1
        body = json.dumps({'handler': handler, 'path': path})
    start_response('200 OK', [('Content-Type', 'application/json'), ('Content-Length', str(len(body)))])
    return [body.encode()]

class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass

server = make_server('127.0.0.1', int(sys.argv[1]), app, handler_class=Quiet)
print('listening', flush=True)
server.serve_forever()
`;

interface Upstream {
  name: string;
  url: string;
  port: number;
  adminHits(): Promise<number>;
  close(): Promise<void>;
}

async function startFastify(): Promise<Upstream> {
  let admin = 0;
  // find-my-way reads useSemicolonDelimiter from routerOptions; fastify's types do not list it yet.
  const routerOptions = { caseSensitive: false, ignoreTrailingSlash: true, ignoreDuplicateSlashes: true, useSemicolonDelimiter: true } as Record<string, boolean>;
  const app: FastifyInstance = Fastify({ routerOptions });
  const adminHandler = async (req: { url: string }) => { admin++; return { handler: 'admin', path: req.url }; };
  app.get('/admin', adminHandler);
  app.get('/admin/*', adminHandler);
  app.get('/*', async (req) => ({ handler: 'public', path: req.url }));
  const port = await freePort();
  await app.listen({ host: '127.0.0.1', port });
  return { name: 'fastify', url: `http://127.0.0.1:${port}`, port, adminHits: async () => admin, close: () => app.close() };
}

/** Exact bytes straight to an upstream; wsgiref answers in HTTP/1.0, read like 1.1 here. */
async function direct(port: number, target: string): Promise<RawResponse[]> {
  const text = await raw(port, Buffer.from(get(target).join('\r\n') + '\r\n\r\n', 'latin1'), 3000);
  return parseResponses(text.replace(/^HTTP\/1\.0 /, 'HTTP/1.1 '));
}

async function startWsgi(): Promise<Upstream> {
  const port = await freePort();
  const child: Tracked = spawnTracked('/usr/bin/python3', ['-c', WSGI_APP, String(port)]);
  await waitFor(() => isListening(port), { timeout: 10_000 }).catch((err: unknown) => { throw new Error(`wsgiref did not start: ${child.output()}`, { cause: err }); });
  return {
    name: 'wsgiref', url: `http://127.0.0.1:${port}`, port,
    adminHits: async () => {
      const [r] = await direct(port, '/__hits');
      return (JSON.parse(r!.body) as { admin: number }).admin;
    },
    close: () => killTracked(child, 'SIGTERM'),
  };
}

// Spellings per view. `direct` lists the upstreams whose protected handler serves the
// spelling when it is sent to them directly (the view exists there).
interface Spelling { view: string; target: string; direct: readonly string[] }
const BOTH = ['fastify', 'wsgiref'];
const SPELLINGS: readonly Spelling[] = [
  { view: 'case', target: '/ADMIN', direct: BOTH },
  { view: 'case', target: '/Admin/users', direct: BOTH },
  { view: 'case', target: '/aDmIn/', direct: BOTH },
  { view: ';', target: '/admin;x=1', direct: BOTH },
  { view: ';', target: '/admin;jsessionid=x/users', direct: ['wsgiref'] },
  { view: ';', target: '/ADMIN;x', direct: BOTH },
  { view: ';', target: '/public/..;/admin', direct: ['wsgiref'] },
  { view: 'trailing slash', target: '/admin/', direct: BOTH },
  { view: 'trailing slash', target: '/ADMIN/', direct: BOTH },
  { view: '%2F', target: '/admin%2Fusers', direct: ['wsgiref'] },
  { view: '%2F', target: '/public%2F..%2Fadmin', direct: ['wsgiref'] },
  { view: '%2F', target: '/public/..%2fADMIN', direct: ['wsgiref'] },
  { view: '%2e', target: '/public/%2e%2e/admin', direct: ['wsgiref'] },
  { view: '%2e', target: '/public/%2E%2E/ADMIN/', direct: ['wsgiref'] },
  { view: '%2e', target: '/%2e/Admin', direct: ['wsgiref'] },
  { view: '//', target: '//admin', direct: BOTH },
  { view: '//', target: '/admin//users', direct: BOTH },
  { view: '//', target: '//ADMIN//', direct: BOTH },
  { view: '\\', target: '/admin\\users', direct: ['wsgiref'] },
  { view: '\\', target: '/public\\..\\admin', direct: ['wsgiref'] },
];

let gw: TestGateway;
const ups: Upstream[] = [];

test.before(async () => {
  ups.push(await startFastify(), await startWsgi());
  const digest = createHash('sha256').update(KEY).digest('hex');
  const routes: Record<string, unknown> = {};
  const upstreams: Record<string, unknown> = {};
  for (const u of ups) {
    upstreams[u.name] = { targets: [{ url: u.url }] };
    // Both spellings of the protected area, read the way this upstream reads paths.
    routes[`${u.name}-admin`] = {
      match: { hosts: [`${u.name}.test`], paths: ['/admin', '/admin/*'], caseSensitive: false, strictSlash: false },
      upstream: u.name, policies: { 'key-auth': {} },
    };
    routes[`${u.name}-public`] = { match: { hosts: [`${u.name}.test`], paths: ['/*'] }, upstream: u.name };
  }
  gw = await startGateway({ upstreams, consumers: { root: { keys: [`sha256:${digest}`] } }, routes } as never);
});
test.after.always(async () => {
  await gw?.stop();
  for (const u of ups) await u.close();
});

const through = (u: Upstream, target: string, headers: string[] = []): Promise<RawResponse[]> =>
  send(gw.port, [`GET ${target} HTTP/1.1`, `Host: ${u.name}.test`, 'Connection: close', ...headers]);

test.serial('baseline: the public route reaches the public handler; /admin needs the key', async (t) => {
  for (const u of ups) {
    const [pub] = await through(u, '/public/page');
    t.is(pub!.status, 200, u.name);
    t.is((JSON.parse(pub!.body) as { handler: string }).handler, 'public', u.name);
    const [admin] = await through(u, '/admin');
    assertProblem(t, admin!, 401, 'GW_UNAUTHORIZED');
    const [ok] = await through(u, '/admin', [`X-Api-Key: ${KEY}`]);
    t.is((JSON.parse(ok!.body) as { handler: string }).handler, 'admin', u.name);
  }
});

for (const s of SPELLINGS) {
  test.serial(`view ${s.view}: ${s.target} cannot reach a protected handler through the public route`, async (t) => {
    for (const u of ups) {
      // The view is real: sent directly, the upstream's protected handler serves it.
      if (s.direct.includes(u.name)) {
        const before = await u.adminHits();
        const [d] = await direct(u.port, s.target);
        t.is(d?.status, 200, `${u.name} direct ${d?.body}`);
        t.is(await u.adminHits(), before + 1, `${u.name} reads ${s.target} as /admin`);
      }
      const before = await u.adminHits();
      const [r] = await through(u, s.target);
      t.true(r!.status === 400 || r!.status === 401, `${u.name}: ${s.target} → ${r!.status} ${r!.body}`);
      if (r!.status === 401) assertProblem(t, r!, 401, 'GW_UNAUTHORIZED');
      else t.true(['GW_BAD_PATH', 'GW_BAD_REQUEST'].includes((JSON.parse(r!.body) as { code: string }).code));
      t.is(await u.adminHits(), before, `${u.name}: the protected handler was reached without a key`);
    }
  });
}

test.serial('with the key, the accepted spellings reach the protected handler as the gateway authorised them', async (t) => {
  for (const u of ups) {
    for (const [target, forwarded] of [['/ADMIN', '/ADMIN'], ['/admin/', '/admin/'], ['//Admin//x', '/Admin/x'], ['/public/%2e%2e/ADMIN/', '/ADMIN/']] as const) {
      const before = await u.adminHits();
      const [r] = await through(u, target, [`X-Api-Key: ${KEY}`]);
      t.is(r!.status, 200, `${u.name} ${target}`);
      const body = JSON.parse(r!.body) as { handler: string; path: string };
      t.is(body.handler, 'admin');
      t.is(body.path, forwarded, 'the upstream got the one normalised path');
      t.is(await u.adminHits(), before + 1);
    }
  }
});

test.serial("';' segment parameters are refused with GW_BAD_REQUEST by default; %3B is data", async (t) => {
  const u = ups[0]!;
  for (const target of ['/admin;x=1', '/public;a/b', '/public/x;']) {
    const [r] = await through(u, target);
    assertProblem(t, r!, 400, 'GW_BAD_REQUEST');
  }
  const [enc] = await through(u, '/public%3Bx');
  t.is(enc!.status, 200);
  t.is((JSON.parse(enc!.body) as { handler: string }).handler, 'public');
  const [query] = await through(u, '/public?a=1;b=2');
  t.is(query!.status, 200);
});

test.serial('node.paths.allowSemicolon: true keeps ; as an ordinary character', async (t) => {
  const u = ups[1]!; // wsgiref
  const lax = await startGateway({
    node: { paths: { allowSemicolon: true } },
    upstreams: { a: { targets: [{ url: u.url }] } },
    routes: { public: { match: { paths: ['/public/*'] }, upstream: 'a' } },
  } as never);
  try {
    const [r] = await send(lax.port, get('/public/a;v=1/b'));
    t.is(r!.status, 200);
    t.is((JSON.parse(r!.body) as { path: string }).path, '/public/a;v=1/b');
    const [dot] = await send(lax.port, get('/public/..;/admin'));
    assertProblem(t, dot!, 400, 'GW_BAD_PATH');
  } finally {
    await lax.stop();
  }
});

test.serial('a case-insensitive route strips its prefix in any case; params keep the case received', async (t) => {
  const u = ups[1]!; // wsgiref echoes PATH_INFO
  const g = await startGateway({
    upstreams: { a: { targets: [{ url: u.url }] } },
    routes: {
      api: { match: { paths: ['/api/*'], caseSensitive: false, strictSlash: false }, upstream: 'a', rewrite: { stripPrefix: '/api' } },
      files: { match: { paths: ['/Files/:name'], caseSensitive: false }, upstream: 'a', rewrite: { path: '/static/:name' } },
    },
  } as never);
  try {
    for (const [target, path] of [['/API/Users/Bob', '/Users/Bob'], ['/api', '/'], ['/Api/', '/'], ['/FILES/ReadMe', '/static/ReadMe']] as const) {
      const [r] = await send(g.port, get(target));
      t.is(r!.status, 200, target);
      t.is((JSON.parse(r!.body) as { path: string }).path, path, target);
    }
  } finally {
    await g.stop();
  }
});
