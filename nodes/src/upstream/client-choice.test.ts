// Choosing the proxy path's HTTP/1.1 client: config, environment override, refused values.
import test from 'ava';
import { chooseUpstreamClient } from './client-choice.ts';
import { validateConfig } from '../validation/validate.ts';
import { PoolRegistry } from './target.ts';
import { H1Pool } from './h1/pool.ts';
import { UndiciH1Pool } from './h1/undici.ts';

test('default own; node.upstreamClient chooses; the environment variable wins; empty means unset', (t) => {
  t.is(chooseUpstreamClient(undefined, undefined), 'own');
  t.is(chooseUpstreamClient('undici', undefined), 'undici');
  t.is(chooseUpstreamClient('own', 'undici'), 'undici');
  t.is(chooseUpstreamClient('undici', 'own'), 'own');
  t.is(chooseUpstreamClient('undici', ''), 'undici');
});

test('an unknown environment value fails the start, naming the variable', (t) => {
  t.throws(() => chooseUpstreamClient(undefined, 'Undici'), { message: 'GATEHOUSE_UPSTREAM_CLIENT must be "own" or "undici", not "Undici"' });
});

test('node.upstreamClient accepts own and undici only', (t) => {
  t.deepEqual(validateConfig({ node: { upstreamClient: 'undici' } }), []);
  t.deepEqual(validateConfig({ node: { upstreamClient: 'own' } }), []);
  t.deepEqual(validateConfig({ node: { upstreamClient: 'native' } }).map((e) => e.path), ['node.upstreamClient']);
});

test('the registry builds http(s) proxy pools on the chosen client; h2 targets keep their own pool', async (t) => {
  const opts = { connections: 2, connectTimeout: 1000, headersTimeout: 1000, bodyTimeout: 1000, keepAliveTimeout: 1000 };
  const own = new PoolRegistry('own');
  const undici = new PoolRegistry('undici');
  t.true(own.get('http://127.0.0.1:9', opts).h1 instanceof H1Pool);
  t.true(undici.get('http://127.0.0.1:9', opts).h1 instanceof UndiciH1Pool);
  t.true(undici.get('https://127.0.0.1:9', opts).h1 instanceof UndiciH1Pool);
  t.false(undici.get('h2c://127.0.0.1:9', opts).h1 instanceof UndiciH1Pool);
  await Promise.all([own.closeAll(), undici.closeAll()]);
});
