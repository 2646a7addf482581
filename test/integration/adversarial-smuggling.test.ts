/**
 * Adversarial suite, part 2: one socket, several requests. Request smuggling and
 * desynchronisation (RFC 9112 §6.3 and §11.2; Watchfire 2005, PortSwigger 2019 CL.TE/TE.CL/
 * TE.TE; h2c smuggling, Bishop Fox 2020; chunk-extension smuggling, CVE-2023-30589 Node
 * llhttp, CVE-2022-32213/32214/32215). The property: every request the gateway answers is
 * one the client framed the same way the gateway did, and a request hidden in another's
 * body never reaches /admin (which needs a key) or the upstream as a request of its own.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { raw } from '../helpers/http.ts';
import { parseResponses, assertProblem } from '../helpers/adversary.ts';

const KEY = 'admin-secret-key';
let up: TestUpstream;
let gw: TestGateway;

test.before(async () => {
  up = await startUpstream();
  gw = await startGateway({
    upstreams: { a: { targets: [{ url: up.url }] } },
    consumers: { root: { groups: ['admins'], keys: [`sha256:${createHash('sha256').update(KEY).digest('hex')}`] } },
    routes: {
      admin: { match: { paths: ['/admin', '/admin/*'] }, upstream: 'a', policies: { 'key-auth': {} } },
      public: { match: { paths: ['/*'] }, upstream: 'a' },
    },
  });
});
test.after.always(async () => { await gw?.stop(); await up?.close(); });
test.beforeEach(() => { up.received.length = 0; });

const req = (lines: string[], body = ''): string => lines.join('\r\n') + '\r\n\r\n' + body;
const SMUGGLED = req(['GET /admin/smuggled HTTP/1.1', 'Host: gw.test', 'Connection: close']);
const LAST = req(['GET /public HTTP/1.1', 'Host: gw.test', 'Connection: close']);
const exchange = async (data: string, idle = 1500) => parseResponses(await raw(gw.port, data, idle));
const adminReached = (): boolean => up.received.some((r) => r.url.startsWith('/admin'));

test.serial('pipelined: each request is routed and authenticated on its own', async (t) => {
  const rs = await exchange(req(['GET /public HTTP/1.1', 'Host: gw.test']) + req(['GET /admin HTTP/1.1', 'Host: gw.test']) + req(['GET /admin/x HTTP/1.1', 'Host: gw.test', `X-Api-Key: ${KEY}`, 'Connection: close']));
  t.deepEqual(rs.map((r) => r.status), [200, 401, 200]);
  assertProblem(t, rs[1]!, 401, 'GW_UNAUTHORIZED');
  t.deepEqual(up.received.map((r) => r.url), ['/public', '/admin/x']);
  t.is(up.received[1]!.headers['x-consumer-name'], 'root');
});

test.serial('an authenticated request does not lend its identity to the next one on the socket', async (t) => {
  const rs = await exchange(req(['GET /admin HTTP/1.1', 'Host: gw.test', `X-Api-Key: ${KEY}`]) + req(['GET /admin HTTP/1.1', 'Host: gw.test']) + LAST);
  t.deepEqual(rs.map((r) => r.status), [200, 401, 200]);
  t.is(up.received.length, 2);
  t.is(up.received[1]!.headers['x-consumer-name'], undefined);
});

test.serial('a request inside a refused request\'s body is not run', async (t) => {
  const rs = await exchange(req(['POST /admin HTTP/1.1', 'Host: gw.test', `Content-Length: ${SMUGGLED.length}`], SMUGGLED) + LAST);
  t.is(rs[0]!.status, 401);
  t.false(rs.slice(1).some((r) => r.status === 200 && r.body.includes('smuggled')));
  t.false(adminReached());
  t.true(rs.length <= 2);
});

test.serial('a request inside a forwarded body stays body', async (t) => {
  const rs = await exchange(req(['POST /public HTTP/1.1', 'Host: gw.test', 'Connection: close', `Content-Length: ${SMUGGLED.length}`], SMUGGLED));
  t.deepEqual(rs.map((r) => r.status), [200]);
  t.is(up.received.length, 1);
  t.is(up.received[0]!.body.toString(), SMUGGLED);
});

// Each framing below is ambiguous: some parser would read it as two requests. Node's strict
// parser refuses them (400) and closes the connection, so nothing after them is read.
const AMBIGUOUS: Record<string, string> = {
  'CL.TE': req(['POST /public HTTP/1.1', 'Host: gw.test', 'Content-Length: 6', 'Transfer-Encoding: chunked'], '0\r\n\r\n' + SMUGGLED),
  'TE.CL': req(['POST /public HTTP/1.1', 'Host: gw.test', 'Transfer-Encoding: chunked', 'Content-Length: 3'], '8\r\nSMUGGLED\r\n0\r\n\r\n' + SMUGGLED),
  'duplicate Content-Length, different values': req(['POST /public HTTP/1.1', 'Host: gw.test', 'Content-Length: 0', `Content-Length: ${SMUGGLED.length}`], SMUGGLED),
  'Content-Length list': req(['POST /public HTTP/1.1', 'Host: gw.test', `Content-Length: 0, ${SMUGGLED.length}`], SMUGGLED),
  'signed Content-Length': req(['POST /public HTTP/1.1', 'Host: gw.test', `Content-Length: +${SMUGGLED.length}`], SMUGGLED),
  'hex Content-Length': req(['POST /public HTTP/1.1', 'Host: gw.test', 'Content-Length: 0x10'], SMUGGLED),
  'TE chunked, identity': req(['POST /public HTTP/1.1', 'Host: gw.test', 'Transfer-Encoding: chunked, identity'], '0\r\n\r\n' + SMUGGLED),
  'TE identity': req(['POST /public HTTP/1.1', 'Host: gw.test', 'Transfer-Encoding: identity', `Content-Length: ${SMUGGLED.length}`], SMUGGLED),
  'TE with space before colon': req(['POST /public HTTP/1.1', 'Host: gw.test', 'Transfer-Encoding : chunked'], '0\r\n\r\n' + SMUGGLED),
  'TE xchunked': req(['POST /public HTTP/1.1', 'Host: gw.test', 'Transfer-Encoding: xchunked'], '0\r\n\r\n' + SMUGGLED),
  'TE with vertical tab': req(['POST /public HTTP/1.1', 'Host: gw.test', 'Transfer-Encoding: \x0bchunked'], '0\r\n\r\n' + SMUGGLED),
  'TE twice, chunked not last': req(['POST /public HTTP/1.1', 'Host: gw.test', 'Transfer-Encoding: chunked', 'Transfer-Encoding: identity'], '0\r\n\r\n' + SMUGGLED),
  'chunk size overflow': req(['POST /public HTTP/1.1', 'Host: gw.test', 'Transfer-Encoding: chunked'], '10000000000000000\r\nx\r\n0\r\n\r\n' + SMUGGLED),
  'chunk size with junk': req(['POST /public HTTP/1.1', 'Host: gw.test', 'Transfer-Encoding: chunked'], '5 x\r\nhello\r\n0\r\n\r\n' + SMUGGLED),
  'bare LF in chunk extension': req(['POST /public HTTP/1.1', 'Host: gw.test', 'Transfer-Encoding: chunked'], '2;\nxx\r\n45\r\n0\r\n\r\n' + SMUGGLED),
  'chunk data longer than its size': req(['POST /public HTTP/1.1', 'Host: gw.test', 'Transfer-Encoding: chunked'], '2\r\nxxxx\r\n0\r\n\r\n' + SMUGGLED),
  'space in a header name': req(['GET /admin HTTP/1.1', 'Host: gw.test', `X-Api-Key : ${KEY}`]) + SMUGGLED,
  'obs-fold continuation line': req(['GET /public HTTP/1.1', 'Host: gw.test', 'X-A: 1', ' Transfer-Encoding: chunked']) + SMUGGLED,
  'NUL in a header value': req(['GET /public HTTP/1.1', 'Host: gw.test', 'X-A: a\x00b']) + SMUGGLED,
  'bare CR in a header value': req(['GET /public HTTP/1.1', 'Host: gw.test', 'X-A: a\rTransfer-Encoding: chunked']) + SMUGGLED,
  'invalid HTTP version': req(['GET /public HTTP/1.2.3', 'Host: gw.test']) + SMUGGLED,
};
for (const [name, data] of Object.entries(AMBIGUOUS)) {
  test.serial(`ambiguous framing refused: ${name}`, async (t) => {
    const rs = await exchange(data);
    t.is(rs.length, 1, 'one answer, then the connection is closed');
    // An unknown transfer coding is a 501 (RFC 9112 §6.1), closed like the 400s.
    if (name === 'TE xchunked') assertProblem(t, rs[0]!, 501, 'GW_NOT_IMPLEMENTED');
    else assertProblem(t, rs[0]!, 400, 'GW_BAD_REQUEST');
    t.is(up.received.length, 0);
  });
}

test.serial('identical duplicate Content-Length: one consistent framing or a refusal, never two requests', async (t) => {
  const rs = await exchange(req(['POST /public HTTP/1.1', 'Host: gw.test', 'Content-Length: 5', 'Content-Length: 5'], 'hello') + SMUGGLED);
  t.false(adminReached());
  t.true(rs.length === 1 ? rs[0]!.status === 400 : rs[1]!.status === 401);
});

test.serial('bare LF line endings: routed like CRLF or refused, never a different request', async (t) => {
  const rs = parseResponses(await raw(gw.port, 'GET /admin HTTP/1.1\nHost: gw.test\nConnection: close\n\n', 1500));
  t.true(rs.length === 1 && (rs[0]!.status === 400 || rs[0]!.status === 401));
  t.is(up.received.length, 0);
});

test.serial('h2c upgrade is not tunnelled: later bytes are requests, each checked', async (t) => {
  const rs = await exchange(req(['GET /public HTTP/1.1', 'Host: gw.test', 'Upgrade: h2c', 'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA', 'Connection: Upgrade, HTTP2-Settings']) + SMUGGLED);
  t.not(rs[0]!.status, 101);
  t.false(adminReached());
  if (up.received.length) {
    t.is(up.received[0]!.headers.upgrade, undefined);
    t.is(up.received[0]!.headers['http2-settings'], undefined);
  }
  if (rs.length > 1) t.is(rs[1]!.status, 401);
});

test.serial('websocket upgrade to /admin without a key is refused, not tunnelled', async (t) => {
  const rs = await exchange(req(['GET /admin HTTP/1.1', 'Host: gw.test', 'Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13']) + SMUGGLED);
  t.not(rs[0]?.status, 101);
  t.false(adminReached());
});

test.serial('Expect: 100-continue on /admin without a key: the body is never forwarded', async (t) => {
  // Node answers 100 itself before the handler runs (no 'checkContinue' listener), so the
  // client may send the body; it is then discarded with the 401.
  const rs = await exchange(req(['POST /admin HTTP/1.1', 'Host: gw.test', 'Connection: close', 'Content-Length: 5', 'Expect: 100-continue'], 'hello'));
  t.is(rs[rs.length - 1]!.status, 401);
  t.is(up.received.length, 0);
});

test.serial('Transfer-Encoding on HTTP/1.0: no request behind it reaches /admin unchecked', async (t) => {
  const rs = await exchange(req(['POST /public HTTP/1.0', 'Host: gw.test', 'Transfer-Encoding: chunked', 'Connection: keep-alive'], '0\r\n\r\n') + SMUGGLED);
  t.false(adminReached());
  t.true(rs.every((r) => r.status !== 200 || !r.body.includes('/admin')));
});

// RFC 9112 §6.1: a Transfer-Encoding on an HTTP/1.0 message means the framing is faulty; the
// server MUST close the connection after it. Node parses it as chunked and keeps the
// connection open, so a front proxy that ignores TE on 1.0 would desynchronise from us.
// Known gap in the core (pipeline/handler.ts), reported; flips to a pass once fixed.
test('Transfer-Encoding on HTTP/1.0 is refused and the connection closed (RFC 9112 §6.1)', async (t) => {
  const rs = await exchange(req(['POST /public HTTP/1.0', 'Host: gw.test', 'Transfer-Encoding: chunked', 'Connection: keep-alive'], '0\r\n\r\n') + LAST);
  t.is(rs.length, 1);
  t.is(rs[0]!.status, 400);
  t.is(up.received.length, 0);
});

test.serial('HTTP/1.1 without Host: 400, nothing forwarded, connection closed', async (t) => {
  const rs = await exchange(req(['GET /public HTTP/1.1']) + SMUGGLED);
  t.deepEqual(rs.map((r) => r.status), [400]);
  t.is(up.received.length, 0);
});

// Node's requireHostHeader answers this 400 itself with an empty body, not the gateway's
// problem+json (contract "Responses the gateway makes itself"). Reported; flips once fixed.
test('HTTP/1.1 without Host: the 400 is problem+json GW_BAD_REQUEST', async (t) => {
  const [r] = await exchange(req(['GET /public HTTP/1.1']));
  assertProblem(t, r!, 400, 'GW_BAD_REQUEST');
});
