/**
 * Expect: 100-continue decided after the request-phase policies: a refused request gets
 * its final answer and no 100 (the body is never asked for); an allowed one gets 100 and
 * its body goes through, over HTTP/1.1 and HTTP/2 (h2c) alike. curl shows what it received
 * on stderr with -v.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { run } from './run.ts';

const digest = (k: string): string => `sha256:${createHash('sha256').update(k).digest('hex')}`;
let up: TestUpstream;
let gw: TestGateway;

test.before(async () => {
  up = await startUpstream();
  gw = await startGateway({
    node: { http2: { cleartext: true } },
    consumers: { alice: { keys: [digest('k-alice')] } },
    upstreams: { u: { targets: [{ url: up.url }] } },
    routes: { keyed: { match: { paths: ['/keyed'] }, upstream: 'u', policies: { 'key-auth': {} } } },
  });
});
test.after.always(async () => { await gw?.stop(); await up?.close(); });

const body = 'b'.repeat(5000);

// Serial: both tests read the upstream's request count, which the other one moves.
test.serial('a policy refusal answers before the body: no 100 Continue, the body never reaches the upstream', async (t) => {
  const before = up.received.length;
  const r = await run('curl', ['-sv', '--expect100-timeout', '10', '-H', 'expect: 100-continue', '--data-binary', body, `${gw.url}/keyed`]);
  t.regex(r.stderr, /< HTTP\/1.1 401/);
  t.notRegex(r.stderr, /100 Continue/);
  t.is(up.received.length, before);
});

test.serial('an allowed request gets 100 Continue, then its body is forwarded', async (t) => {
  const r = await run('curl', ['-sv', '--expect100-timeout', '10', '-H', 'expect: 100-continue', '-H', 'x-api-key: k-alice', '--data-binary', body, `${gw.url}/keyed`]);
  t.regex(r.stderr, /< HTTP\/1.1 100 Continue/);
  t.regex(r.stderr, /< HTTP\/1.1 200/);
  t.is((JSON.parse(r.stdout) as { body: string }).body, body);
});

// HTTP/2: the gateway decides on the stream as on a connection (Node's HTTP/2 server would
// send 100 Continue at once, before any policy ran).
test.serial('HTTP/2: a policy refusal answers before the body: no 100, the body never reaches the upstream', async (t) => {
  const before = up.received.length;
  const r = await run('curl', ['-sv', '--http2-prior-knowledge', '--expect100-timeout', '10', '-H', 'expect: 100-continue', '--data-binary', body, `${gw.url}/keyed`]);
  t.regex(r.stderr, /< HTTP\/2 401/);
  t.notRegex(r.stderr, /< HTTP\/2 100/);
  t.is(up.received.length, before);
});

test.serial('HTTP/2: an allowed request gets 100, then its body is forwarded', async (t) => {
  const r = await run('curl', ['-sv', '--http2-prior-knowledge', '--expect100-timeout', '10', '-H', 'expect: 100-continue', '-H', 'x-api-key: k-alice', '--data-binary', body, `${gw.url}/keyed`]);
  t.regex(r.stderr, /< HTTP\/2 100/);
  t.regex(r.stderr, /< HTTP\/2 200/);
  t.is((JSON.parse(r.stdout) as { body: string }).body, body);
});

test.serial('an expectation other than 100-continue is a 417, on HTTP/1.1 and HTTP/2', async (t) => {
  const before = up.received.length;
  const h1 = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'expect: something-else', '-H', 'x-api-key: k-alice', `${gw.url}/keyed`]);
  const h2 = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--http2-prior-knowledge', '-H', 'expect: something-else', '-H', 'x-api-key: k-alice', `${gw.url}/keyed`]);
  t.is(h1.stdout, '417');
  t.is(h2.stdout, '417');
  t.is(up.received.length, before);
});
