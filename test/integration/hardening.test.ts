import test from 'ava';
import net from 'node:net';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { http, raw, statuses } from '../helpers/http.ts';

let up: TestUpstream;
let gw: TestGateway;

test.before(async () => {
  up = await startUpstream();
  gw = await startGateway({
    node: { limits: { maxHeaderSize: 4096, maxBodySize: '1kb', headersTimeout: '500ms', requestTimeout: '2s' } },
    upstreams: { a: { targets: [{ url: up.url }] } },
    routes: {
      pub: { match: { paths: ['/pub', '/pub/*'] }, upstream: 'a' },
      b: { match: { paths: ['/b'] }, upstream: 'a' },
    },
  });
});
test.after.always(async () => { await gw?.stop(); await up?.close(); });
test.beforeEach(() => { up.received.length = 0; });

const req = (lines: string[]): string => lines.join('\r\n') + '\r\n\r\n';

test.serial('headers over the limit: 431 problem+json, nothing forwarded', async (t) => {
  const text = await raw(gw.port, req(['GET /pub HTTP/1.1', 'Host: x', `X-Big: ${'a'.repeat(8000)}`]));
  t.deepEqual(statuses(text), [431]);
  t.true(text.includes('GW_HEADERS_TOO_LARGE'));
  t.is(up.received.length, 0);
});

test.serial('Content-Length over the limit: 413 before anything is forwarded', async (t) => {
  const r = await http(`${gw.url}/pub`, { method: 'POST', body: 'x'.repeat(2000) });
  t.is(r.status, 413);
  t.is(r.json().code, 'GW_PAYLOAD_TOO_LARGE');
  t.is(up.received.length, 0);
});

test.serial('chunked body over the limit: 413 while streaming', async (t) => {
  const chunk = 'x'.repeat(600);
  const text = await raw(gw.port, req(['POST /pub HTTP/1.1', 'Host: x', 'Transfer-Encoding: chunked']).slice(0, -2) + `\r\n258\r\n${chunk}\r\n258\r\n${chunk}\r\n0\r\n\r\n`, 1500);
  t.deepEqual(statuses(text), [413]);
});

test.serial('chunked body under the limit is forwarded whole', async (t) => {
  const text = await raw(gw.port, 'POST /pub HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
  t.deepEqual(statuses(text), [200]);
  t.is(up.received[0]!.body.toString(), 'hello');
});

test.serial('Content-Length together with Transfer-Encoding: 400 (request smuggling)', async (t) => {
  const text = await raw(gw.port, 'POST /pub HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n');
  t.deepEqual(statuses(text), [400]);
  t.is(up.received.length, 0);
});

test.serial('duplicate Content-Length: 400', async (t) => {
  const text = await raw(gw.port, 'POST /pub HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab');
  t.deepEqual(statuses(text), [400]);
  t.is(up.received.length, 0);
});

test.serial('duplicate Host: 400', async (t) => {
  const text = await raw(gw.port, req(['GET /pub HTTP/1.1', 'Host: a.example.com', 'Host: b.example.com']));
  t.deepEqual(statuses(text), [400]);
  t.is(up.received.length, 0);
});

test.serial('malformed request line: 400 with no parser text', async (t) => {
  const text = await raw(gw.port, 'GET /pub HTTP/1.1 extra\r\nHost: x\r\n\r\n');
  t.deepEqual(statuses(text), [400]);
  t.false(/HPE_|Parse Error/i.test(text));
});

test.serial('slowloris: a client that never finishes its headers is cut off', async (t) => {
  const s = net.connect(gw.port, '127.0.0.1');
  s.write('GET /pub HTTP/1.1\r\nHost: x\r\n');
  const t0 = Date.now();
  const ticker = setInterval(() => s.writable && s.write('X-A: b\r\n'), 100);
  const data: Buffer[] = [];
  s.on('data', (c: Buffer) => data.push(c));
  await new Promise<void>((r) => { s.on('close', () => r()); s.on('error', () => r()); });
  clearInterval(ticker);
  t.true(Date.now() - t0 < 4000, 'closed by the headers timeout');
  const text = Buffer.concat(data).toString();
  if (text) t.deepEqual(statuses(text), [408]);
  t.is(up.received.length, 0);
});

test.serial('paths are normalised once; the upstream gets the same path that was routed', async (t) => {
  const text = await raw(gw.port, req(['GET /pub/a/../%62/./c//d?q=%2e HTTP/1.1', 'Host: x']));
  t.deepEqual(statuses(text), [200]);
  t.is(up.received[0]!.url, '/pub/b/c/d?q=%2e');
});

for (const bad of ['/pub/..%2f..%2fetc', '/pub/%2e%2e/%2e%2e/x', '/../pub', '/pub/a%5cb', '/pub/%00', '/pub\\..\\b']) {
  test.serial(`rejected path ${bad}`, async (t) => {
    const text = await raw(gw.port, req([`GET ${bad} HTTP/1.1`, 'Host: x']));
    t.deepEqual(statuses(text), [400]);
    t.is(up.received.length, 0);
  });
}

test.serial('pipelined requests are each routed on their own', async (t) => {
  const text = await raw(gw.port, req(['GET /pub HTTP/1.1', 'Host: x']) + req(['GET /nope HTTP/1.1', 'Host: x']) + req(['GET /b HTTP/1.1', 'Host: x']));
  t.deepEqual(statuses(text), [200, 404, 200]);
  t.deepEqual(up.received.map((r) => r.url), ['/pub', '/b']);
});

test.serial('absolute-form target: the authority decides the host, the path is normalised', async (t) => {
  const text = await raw(gw.port, req(['GET http://evil.example.com/pub/x/../y HTTP/1.1', 'Host: x']));
  t.deepEqual(statuses(text), [200]);
  t.is(up.received[0]!.url, '/pub/y');
  t.is(up.received[0]!.headers['x-forwarded-host'], 'evil.example.com', 'X-Forwarded-Host is the authority that was routed');
});
