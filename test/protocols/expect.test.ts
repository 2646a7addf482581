/**
 * Expect: 100-continue decided after the request-phase policies: a refused request gets
 * its final answer and no 100 (the body is never asked for); an allowed one gets 100 and
 * its body goes through. curl shows what it received on stderr with -v.
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
