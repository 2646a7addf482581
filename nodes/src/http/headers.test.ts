import test from 'ava';
import { forwardableResponseHeaders, withGatewayHeaders } from './headers.ts';

test('upstream response: hop-by-hop, Connection-named and X-Request-Id headers are dropped, in any case; the rest keep order and case', (t) => {
  const out = forwardableResponseHeaders([
    'Content-Type', 'text/plain',
    'Connection', 'keep-alive, X-Secret',
    'Keep-Alive', 'timeout=5',
    'X-Secret', 'internal',
    'X-REQUEST-ID', 'upstream-id',
    'Transfer-Encoding', 'chunked',
    'Set-Cookie', 'a=1',
    'Set-Cookie', 'b=2',
  ]);
  t.deepEqual(out, ['Content-Type', 'text/plain', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2']);
});

test('undici\'s Buffer pairs give the same list as strings', (t) => {
  t.deepEqual(forwardableResponseHeaders([Buffer.from('ETag'), Buffer.from('"x\xe9"', 'latin1')]), ['ETag', '"x\u00e9"']);
});

test('gateway headers replace the upstream\'s of the same name (any case); arrays repeat', (t) => {
  const out = withGatewayHeaders(
    ['RateLimit-Policy', 'upstream', 'Content-Length', '2', 'vary', 'accept'],
    ['ratelimit-policy', '"default";q=5;w=60'],
    { vary: ['origin', 'accept-encoding'] },
  );
  t.deepEqual(out, ['Content-Length', '2', 'ratelimit-policy', '"default";q=5;w=60', 'vary', 'origin', 'vary', 'accept-encoding']);
});
