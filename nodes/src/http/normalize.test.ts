import test from 'ava';
import http from 'node:http';
import net from 'node:net';
import { normalizeAuthority, normalizeTarget } from './normalize.ts';
import type { NormalizedTarget } from './normalize.ts';

const ok = (path: string, rawQuery = '', authority?: string): NormalizedTarget => (authority === undefined ? { path, rawQuery } : { path, rawQuery, authority });
const BAD_PATH = { error: 'GW_BAD_PATH' } as const;
const BAD_REQUEST = { error: 'GW_BAD_REQUEST' } as const;

const cases: [string, NormalizedTarget][] = [
  // clean (fast path)
  ['/', ok('/')],
  ['/a/b', ok('/a/b')],
  ['/a/b/', ok('/a/b/')],
  ['/api/v1.2/app.min.js', ok('/api/v1.2/app.min.js')],
  ['/a/b?x=1&y=2', ok('/a/b', 'x=1&y=2')],
  ['/a?', ok('/a')],
  ['/?q', ok('/', 'q')],
  ['/a?b?c', ok('/a', 'b?c')],
  ['/...', ok('/...')],
  ['/a/.../b', ok('/a/.../b')],
  ['/.well-known/x', ok('/.well-known/x')],
  ['/a..b/c', ok('/a..b/c')],
  // repeated slashes
  ['//admin', ok('/admin')],
  ['///admin//x///', ok('/admin/x/')],
  ['//', ok('/')],
  ['//?q', ok('/', 'q')],
  // dot segments
  ['/./admin', ok('/admin')],
  ['/a/./b', ok('/a/b')],
  ['/a/.', ok('/a/')],
  ['/a/..', ok('/')],
  ['/a/b/..', ok('/a/')],
  ['/a/b/../', ok('/a/')],
  ['/a/b/../c', ok('/a/c')],
  ['/a/b/../../c', ok('/c')],
  ['/public/../admin', ok('/admin')],
  ['/a/.?q', ok('/a/', 'q')],
  ['/a/..?q', ok('/', 'q')],
  ['/.', ok('/')],
  ['/./', ok('/')],
  ['/..', BAD_PATH],
  ['/../', BAD_PATH],
  ['/../admin', BAD_PATH],
  ['/a/../..', BAD_PATH],
  ['/a/../../admin', BAD_PATH],
  ['//..//admin', BAD_PATH],
  // encoded dots: decoded once (unreserved), then resolved
  ['/%2e/admin', ok('/admin')],
  ['/%2E/admin', ok('/admin')],
  ['/%2e%2e/', BAD_PATH],
  ['/%2E%2E/admin', BAD_PATH],
  ['/a/%2e%2e/admin', ok('/admin')],
  ['/a/.%2e/admin', ok('/admin')],
  ['/a/%2E./admin', ok('/admin')],
  ['/static/%2e%2e/%2e%2e/etc/passwd', BAD_PATH],
  // double encoding never decodes twice
  ['/%252e', ok('/%252e')],
  ['/%252e%252e/admin', ok('/%252e%252e/admin')],
  ['/a/%252E%252E%252Fadmin', ok('/a/%252E%252E%252Fadmin')],
  ['/%25', ok('/%25')],
  ['/%2525', ok('/%2525')],
  // encoded separators
  ['/admin/..%2f', BAD_PATH],
  ['/admin%2fsecret', BAD_PATH],
  ['/admin%2Fsecret', BAD_PATH],
  ['/a/..%5cadmin', BAD_PATH],
  ['/a%5C', BAD_PATH],
  ['/a\\b', BAD_PATH],
  ['/a/..\\admin', BAD_PATH],
  // path parameters: ';' ordinary, except on dot segments
  ['/a;v=1/b', ok('/a;v=1/b')],
  ['/admin;jsessionid=x', ok('/admin;jsessionid=x')],
  ['/..;/', BAD_PATH],
  ['/api/..;/admin', BAD_PATH],
  ['/api/.;/admin', BAD_PATH],
  ['/api/..;x=1/admin', BAD_PATH],
  ['/api/%2e%2e;/admin', BAD_PATH],
  ['/api/.%2e;/admin', BAD_PATH],
  ['/api/...;/admin', ok('/api/...;/admin')],
  ['/api/%3B/x', ok('/api/%3B/x')],
  // unreserved decoded, others keep (upper-cased) escapes
  ['/%41%62%7e%2D%5f%30', ok('/Ab~-_0')],
  ['/%3a%40%3F%23%20', ok('/%3A%40%3F%23%20')],
  ['/a%2b', ok('/a%2B')],
  ['/x?%2e%2E', ok('/x', '%2e%2E')],
  // controls, raw and encoded
  ['/a%00', BAD_PATH],
  ['/a%00.html', BAD_PATH],
  ['/a%0d%0aSet-Cookie:x', BAD_PATH],
  ['/a%09', BAD_PATH],
  ['/a%1F', BAD_PATH],
  ['/a%7f', BAD_PATH],
  ['/a\x00', BAD_PATH],
  ['/a\tb', BAD_PATH],
  ['/a\x7f', BAD_PATH],
  ['/a b', BAD_PATH],
  // malformed escapes
  ['/%', BAD_PATH],
  ['/a%', BAD_PATH],
  ['/a%2', BAD_PATH],
  ['/a%2?x', BAD_PATH],
  ['/%zz', BAD_PATH],
  ['/%g0', BAD_PATH],
  ['/%u002e/admin', BAD_PATH],
  ['/%%32%65', BAD_PATH],
  // UTF-8 (RFC 3629): well-formed kept, overlong / invalid refused
  ['/caf%c3%a9', ok('/caf%C3%A9')],
  ['/%E2%82%AC', ok('/%E2%82%AC')],
  ['/%f0%9f%98%80', ok('/%F0%9F%98%80')],
  ['/%c0%ae%c0%ae/admin', BAD_PATH],
  ['/%c0%ae', BAD_PATH],
  ['/..%c0%af', BAD_PATH],
  ['/%c1%9c', BAD_PATH],
  ['/%e0%80%ae', BAD_PATH],
  ['/%f0%80%80%ae', BAD_PATH],
  ['/%ed%a0%80', BAD_PATH],
  ['/%f4%90%80%80', BAD_PATH],
  ['/%f5%80%80%80', BAD_PATH],
  ['/%ff', BAD_PATH],
  ['/%80', BAD_PATH],
  ['/%e9', BAD_PATH],
  ['/%c3', BAD_PATH],
  ['/%c3a', BAD_PATH],
  ['/%c3/%a9', BAD_PATH],
  ['/%c3%c3', BAD_PATH],
  // raw non-ASCII
  ['/caf\u00e9', BAD_PATH],
  ['/\u00ff', BAD_PATH],
  ['/\u2025', BAD_PATH],
  ['/\uff0e\uff0e/admin', BAD_PATH],
  // other printable ASCII is kept as is
  ["/a:b@c!$&'()*+,=", ok("/a:b@c!$&'()*+,=")],
  ['/a"<>[]^`{|}', ok('/a"<>[]^`{|}')],
  // fragments and query
  ['/a#b', BAD_REQUEST],
  ['/a?b#c', BAD_REQUEST],
  ['/a%23b', ok('/a%23b')],
  ['/a?b c', BAD_REQUEST],
  ['/a?b\x00', BAD_REQUEST],
  ['/a?b\r\nX: y', BAD_REQUEST],
  ['/a?b\x7f', BAD_REQUEST],
  ['/a/../b?b\t', BAD_REQUEST],
  ['/a?q=caf\u00e9', ok('/a', 'q=caf\u00e9')],
  ['/a?q=%zz&x=/../', ok('/a', 'q=%zz&x=/../')],
  // other forms
  ['', BAD_REQUEST],
  ['*', BAD_REQUEST],
  ['example.com:443', BAD_REQUEST],
  ['a/b', BAD_REQUEST],
  ['?x', BAD_REQUEST],
  ['ftp://h/x', BAD_REQUEST],
  ['//h/x', ok('/h/x')],
  ['\\\\h\\x', BAD_REQUEST],
  // absolute-form (RFC 9112 §3.2.2)
  ['http://Example.COM/a?b', ok('/a', 'b', 'example.com')],
  ['HTTPS://example.com:8443', ok('/', '', 'example.com:8443')],
  ['http://example.com?x=1', ok('/', 'x=1', 'example.com')],
  ['http://example.com:/p', ok('/p', '', 'example.com')],
  ['http://h//admin/../x', ok('/x', '', 'h')],
  ['http://h/%2e%2e/', BAD_PATH],
  ['http://[::1]:8080/a', ok('/a', '', '[::1]:8080')],
  ['http://[2001:DB8::1]/', ok('/', '', '[2001:db8::1]')],
  ['http://[::1%25eth0]/', BAD_REQUEST],
  ['http://[v1.x]/', BAD_REQUEST],
  ['http://[::1/', BAD_REQUEST],
  ['http://user:pass@h/', BAD_REQUEST],
  ['http://user@h/', BAD_REQUEST],
  ['http://@h/', BAD_REQUEST],
  ['http://h@evil/', BAD_REQUEST],
  ['http:///x', BAD_REQUEST],
  ['http://', BAD_REQUEST],
  ['http://h:99999/', BAD_REQUEST],
  ['http://h:123456/', BAD_REQUEST],
  ['http://h:8x/', BAD_REQUEST],
  ['http://h%2e/', BAD_REQUEST],
  ['http://h#f', BAD_REQUEST],
  ['http://h/a#f', BAD_REQUEST],
  ['http://h\\x/', BAD_REQUEST],
  ['http:/h/', BAD_REQUEST],
  ['http\x1a//h/', BAD_REQUEST],
];

for (const [input, expected] of cases) {
  test(`normalizeTarget(${JSON.stringify(input)})`, (t) => {
    t.deepEqual(normalizeTarget(input, true), expected);
  });
}

// node.paths.allowSemicolon false (the node's default): segment parameters are refused, the
// dot-segment forms stay GW_BAD_PATH, an encoded %3B and a ';' in the query stay data.
const refusingSemicolons: [string, NormalizedTarget][] = [
  ['/admin;jsessionid=x', BAD_REQUEST],
  ['/admin;x=1/users', BAD_REQUEST],
  ['/a/b;', BAD_REQUEST],
  ['/;', BAD_REQUEST],
  ['//admin;x', BAD_REQUEST],
  ['http://h/admin;x', BAD_REQUEST],
  ['/api/...;/admin', BAD_REQUEST],
  ['/..;/', BAD_PATH],
  ['/api/.;x/admin', BAD_PATH],
  ['/api/%3B/x', ok('/api/%3B/x')],
  ['/a?x=1;y=2', ok('/a', 'x=1;y=2')],
  ['/a/b', ok('/a/b')],
];
for (const [input, expected] of refusingSemicolons) {
  test(`normalizeTarget(${JSON.stringify(input)}) refusing ';'`, (t) => {
    t.deepEqual(normalizeTarget(input, false), expected);
  });
}

test('normalizeAuthority', (t) => {
  t.is(normalizeAuthority('Example.COM:80'), 'example.com:80');
  t.is(normalizeAuthority('[::1]'), '[::1]');
  t.is(normalizeAuthority('h:'), 'h');
  t.is(normalizeAuthority(''), undefined);
  t.is(normalizeAuthority('evil.com, good.com'), undefined);
  t.is(normalizeAuthority('u@h'), undefined);
  t.is(normalizeAuthority('h:65536'), undefined);
});

test('the clean fast path returns the input string itself', (t) => {
  const s = '/api/v1/users/123';
  const r = normalizeTarget(s, false);
  t.true('path' in r && r.path === s);
});

// Property test: whatever the gateway accepts is already normal, so normalising again is a
// no-op (a second decode could never change it), and it holds none of the refused shapes.
function rng(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

const TOKENS = ['/', '/', '/', '.', '..', 'a', 'B', '~', '-', ';', '%2e', '%2E', '%2f', '%25', '%252e', '%41', '%7E', '%3b', '%c0', '%ae', '%c3', '%a9', '%e2%82%ac', '%', '%z', '\\', '?', '#', ' ', ':', '@', '%00', '\u00e9'];

test('fuzz: accepted paths are fixed points and hold no dot segment, empty segment or decodable escape', (t) => {
  const next = rng(0x9e3779b9);
  let accepted = 0;
  for (let n = 0; n < 20000; n++) {
    let s = '/';
    const k = 1 + Math.floor(next() * 10);
    for (let j = 0; j < k; j++) s += TOKENS[Math.floor(next() * TOKENS.length)]!;
    const r = normalizeTarget(s, true);
    if ('error' in r) continue;
    accepted++;
    const p = r.path;
    const again = normalizeTarget(p, true);
    if (!('path' in again) || again.path !== p || again.rawQuery !== '') t.fail(`${JSON.stringify(s)} → ${p} → ${JSON.stringify(again)}`);
    if (p.charCodeAt(0) !== 47 || p.includes('//') || /(^|\/)\.\.?(\/|$)/.test(p)) t.fail(`${JSON.stringify(s)} → ${p}`);
    if (/%(2[dD]|2[eE]|3\d|[46][1-9a-fA-F]|[57][0-9aA]|5[fF]|7[eE]|[a-f][0-9a-fA-F]|[0-9A-F][a-f])/.test(p)) t.fail(`escape left decodable or lower-case: ${JSON.stringify(s)} → ${p}`);
    if (/%2F|%5C|%00|\\/i.test(p) || /(^|\/)\.\.?;/.test(p)) t.fail(`${JSON.stringify(s)} → ${p}`);
  }
  t.true(accepted > 1000, `only ${accepted} accepted`);
});

test('end to end: req.url from Node’s parser', async (t) => {
  const seen: NormalizedTarget[] = [];
  const srv = http.createServer((req, res) => {
    seen.push(normalizeTarget(req.url!, false));
    res.end();
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as net.AddressInfo;
  const send = (target: string): Promise<void> =>
    new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => s.end(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
      s.on('data', () => {});
      s.on('close', () => resolve());
    });
  for (const target of ['//a/./b/../c?x=%2e', '/a/%2e%2e/%2e%2e/x', '/a\\..\\b', 'http://H.example/p/../q?z', '*']) await send(target);
  srv.close();
  t.deepEqual(seen, [ok('/a/c', 'x=%2e'), BAD_PATH, BAD_PATH, ok('/q', 'z', 'h.example'), BAD_REQUEST]);
});
