import test from 'ava';
import http from 'node:http';
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import { TrustedProxies, clientAddress, forwardedFor, forwardedHost, forwardedProto, parseForwardedEntry, pushForwarded, peerAddress } from './client-ip.ts';

function req(remoteAddress: string | undefined, rawHeaders: string[] = [], encrypted = false): IncomingMessage {
  const headers: Record<string, string> = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const k = rawHeaders[i]!.toLowerCase();
    headers[k] = headers[k] === undefined ? rawHeaders[i + 1]! : `${headers[k]}, ${rawHeaders[i + 1]!}`;
  }
  return { socket: { remoteAddress, encrypted: encrypted || undefined }, rawHeaders, headers } as unknown as IncomingMessage;
}
const xff = (...values: string[]): string[] => values.flatMap((v) => ['X-Forwarded-For', v]);

const LB = '10.0.0.5';
const trusted = new TrustedProxies(['10.0.0.0/8', '2001:db8:ffff::/48']);
const none = new TrustedProxies([]);

test('TrustedProxies', (t) => {
  t.true(none.empty);
  t.false(none.has('1.2.3.4'));
  t.false(trusted.empty);
  t.true(trusted.has('10.1.1.1'));
  t.true(trusted.has('::ffff:10.1.1.1'));
  t.false(trusted.has('11.1.1.1'));
  t.throws(() => new TrustedProxies(['10.0.0.0/8', '10.0.0.1/8']), { message: /"10\.0\.0\.1\/8"/ });
});

test('peer address: v4-mapped becomes IPv4; missing socket address is empty', (t) => {
  t.is(peerAddress(req('::ffff:192.0.2.7')), '192.0.2.7');
  t.is(peerAddress(req('192.0.2.7')), '192.0.2.7');
  t.is(peerAddress(req('2001:db8::1')), '2001:db8::1');
  t.is(peerAddress(req('::1')), '::1');
  t.is(peerAddress(req(undefined)), '');
});

test('no trusted proxies: always the socket address, XFF ignored', (t) => {
  t.is(clientAddress(req('::ffff:203.0.113.9', xff('1.1.1.1')), none), '203.0.113.9');
  t.is(clientAddress(req('203.0.113.9', xff('10.0.0.1')), none), '203.0.113.9');
});

test('untrusted peer: a spoofed XFF is ignored', (t) => {
  t.is(clientAddress(req('203.0.113.9', xff('127.0.0.1')), trusted), '203.0.113.9');
  t.is(clientAddress(req('203.0.113.9', xff('10.0.0.1')), trusted), '203.0.113.9');
  t.is(clientAddress(req('203.0.113.9', xff('garbage')), trusted), '203.0.113.9');
});

test('trusted peer without XFF: the peer', (t) => {
  t.is(clientAddress(req(LB), trusted), LB);
  t.is(clientAddress(req(LB, xff('')), trusted), LB);
  t.is(clientAddress(req(LB, xff(' , ,')), trusted), LB);
});

test('trusted peer: right-most untrusted entry is the client', (t) => {
  t.is(clientAddress(req(LB, xff('198.51.100.1')), trusted), '198.51.100.1');
  t.is(clientAddress(req(`::ffff:${LB}`, xff('198.51.100.1')), trusted), '198.51.100.1');
  // client-supplied left part is never read
  t.is(clientAddress(req(LB, xff('127.0.0.1, 198.51.100.1')), trusted), '198.51.100.1');
  t.is(clientAddress(req(LB, xff('10.9.9.9, 198.51.100.1')), trusted), '198.51.100.1');
  t.is(clientAddress(req(LB, xff('garbage, <script>, 198.51.100.1')), trusted), '198.51.100.1');
  // trusted hops are skipped
  t.is(clientAddress(req(LB, xff('198.51.100.1, 10.0.0.7, 10.0.0.8')), trusted), '198.51.100.1');
  t.is(clientAddress(req(LB, xff('6.6.6.6, 198.51.100.1, 2001:db8:ffff::1')), trusted), '198.51.100.1');
  t.is(clientAddress(req(LB, xff('198.51.100.1,10.0.0.7')), trusted), '198.51.100.1');
  t.is(clientAddress(req(LB, xff('\t198.51.100.1 ,  10.0.0.7\t')), trusted), '198.51.100.1');
});

test('trusted peer: all entries trusted → the left-most', (t) => {
  t.is(clientAddress(req(LB, xff('10.0.0.1, 10.0.0.2')), trusted), '10.0.0.1');
  t.is(clientAddress(req(LB, xff('::ffff:10.0.0.1, 10.0.0.2')), trusted), '10.0.0.1');
});

test('all X-Forwarded-For lines are joined in order', (t) => {
  // The proxy appended a second line; the first is the client's own claim.
  t.is(clientAddress(req(LB, xff('6.6.6.6', '198.51.100.1')), trusted), '198.51.100.1');
  t.is(clientAddress(req(LB, ['x-forwarded-for', '198.51.100.1', 'Host', 'h', 'X-FORWARDED-FOR', '10.0.0.9']), trusted), '198.51.100.1');
  t.is(clientAddress(req(LB, xff('198.51.100.1, 10.0.0.1', '10.0.0.2')), trusted), '198.51.100.1');
  t.is(clientAddress(req(LB, ['X-Forwarded-For-Extra', '6.6.6.6', 'X-Forwarded', '6.6.6.6']), trusted), LB);
});

test('malformed entries on the walk fail closed', (t) => {
  for (const bad of ['garbage', 'unknown', '_hidden', '1.2.3', '010.0.0.1', '1.2.3.4.5', '::1::2', '2130706433', '0x7f000001', '[1.2.3.4]', '[::1', '::1]', '1.2.3.4:', '1.2.3.4:99999', '1.2.3.4:80:80', '[::1]80', '[::1]:x', 'fe80::1%eth0', '"[::1]"', 'for=1.2.3.4', '1.2.3.4 5.6.7.8']) {
    t.is(clientAddress(req(LB, xff(bad)), trusted), '', bad);
    t.is(clientAddress(req(LB, xff(`198.51.100.1, ${bad}`)), trusted), '', `…, ${bad}`);
    t.is(clientAddress(req(LB, xff(`${bad}, 10.0.0.1`)), trusted), '', `${bad}, trusted`);
  }
});

test('ports and brackets are accepted and dropped; addresses come back canonical', (t) => {
  t.is(clientAddress(req(LB, xff('198.51.100.1:4711')), trusted), '198.51.100.1');
  t.is(clientAddress(req(LB, xff('[2001:db8::1]:4711')), trusted), '2001:db8::1');
  t.is(clientAddress(req(LB, xff('[2001:DB8:0::1]')), trusted), '2001:db8::1');
  t.is(clientAddress(req(LB, xff('2001:0db8::0001')), trusted), '2001:db8::1');
  t.is(clientAddress(req(LB, xff('::ffff:198.51.100.1')), trusted), '198.51.100.1');
  t.is(clientAddress(req(LB, xff('[::ffff:198.51.100.1]:1')), trusted), '198.51.100.1');
  t.is(clientAddress(req(LB, xff('198.51.100.1, [2001:db8:ffff::9]:443')), trusted), '198.51.100.1');
  t.is(parseForwardedEntry('1.2.3.4:65535'), '1.2.3.4');
  t.is(parseForwardedEntry('::1'), '::1');
});

test('a trusted IPv6 peer', (t) => {
  t.is(clientAddress(req('2001:db8:ffff::2', xff('198.51.100.1')), trusted), '198.51.100.1');
  t.is(clientAddress(req('2001:db8:fffe::2', xff('198.51.100.1')), trusted), '2001:db8:fffe::2');
});

test('forwardedFor: chain only from a trusted peer, then the socket address', (t) => {
  t.is(forwardedFor(req('203.0.113.9', xff('1.1.1.1')), trusted), '203.0.113.9');
  t.is(forwardedFor(req('::ffff:203.0.113.9'), trusted), '203.0.113.9');
  t.is(forwardedFor(req(LB), trusted), LB);
  t.is(forwardedFor(req(LB, xff('198.51.100.1')), trusted), `198.51.100.1, ${LB}`);
  t.is(forwardedFor(req(`::ffff:${LB}`, xff('6.6.6.6, 198.51.100.1', '10.0.0.9')), trusted), `6.6.6.6, 198.51.100.1, 10.0.0.9, ${LB}`);
  t.is(forwardedFor(req(LB, xff('1.1.1.1')), none), LB);
  t.is(forwardedFor(req(LB, xff('')), trusted), LB);
});

test('forwardedProto: trusted peer’s right-most http/https, else the gateway’s own', (t) => {
  const xfp = (v: string): string[] => ['X-Forwarded-Proto', v];
  t.is(forwardedProto(req('203.0.113.9', xfp('https')), trusted), 'http');
  t.is(forwardedProto(req('203.0.113.9', xfp('http'), true), trusted), 'https');
  t.is(forwardedProto(req(LB, xfp('https')), trusted), 'https');
  t.is(forwardedProto(req(LB, xfp('HTTPS')), trusted), 'https');
  t.is(forwardedProto(req(LB, xfp('http'), true), trusted), 'http');
  t.is(forwardedProto(req(LB, xfp('http, https')), trusted), 'https');
  t.is(forwardedProto(req(LB, [...xfp('https'), ...xfp('http')]), trusted), 'http');
  t.is(forwardedProto(req(LB, xfp('javascript')), trusted), 'http');
  t.is(forwardedProto(req(LB, xfp('')), trusted, ), 'http');
  t.is(forwardedProto(req(LB, [], true), trusted), 'https');
  t.is(forwardedProto(req(LB, xfp('https')), none), 'http');
});

test('forwardedHost: trusted peer’s right-most valid host, else the gateway’s own', (t) => {
  const h = (host: string, fwd?: string): string[] => ['Host', host, ...(fwd === undefined ? [] : ['X-Forwarded-Host', fwd])];
  t.is(forwardedHost(req('203.0.113.9', h('gw.example', 'evil.example')), trusted), 'gw.example');
  t.is(forwardedHost(req(LB, h('gw.example', 'API.Example.com:8443')), trusted), 'api.example.com:8443');
  t.is(forwardedHost(req(LB, h('gw.example', 'evil.example, api.example.com')), trusted), 'api.example.com');
  t.is(forwardedHost(req(LB, h('gw.example', 'evil.example/@x')), trusted), 'gw.example');
  t.is(forwardedHost(req(LB, h('gw.example', 'a b')), trusted), 'gw.example');
  t.is(forwardedHost(req(LB, h('gw.example')), trusted), 'gw.example');
  t.is(forwardedHost(req(LB, h('gw.example', 'api.example.com')), none), 'gw.example');
  t.is(forwardedHost(req('203.0.113.9', h('gw.example')), trusted, 'abs.example'), 'abs.example');
  t.is(forwardedHost(req('203.0.113.9'), trusted), '');
});

test('end to end through Node: rawHeaders keeps every XFF line; v4-mapped loopback peer', async (t) => {
  const trustLoopback = new TrustedProxies(['127.0.0.0/8', '::1']);
  const seen: string[][] = [];
  const srv = http.createServer((r, res) => {
    seen.push([clientAddress(r, trustLoopback), forwardedFor(r, trustLoopback), clientAddress(r, none)]);
    res.end();
  });
  await new Promise<void>((resolve) => srv.listen(0, '::', resolve));
  const { port } = srv.address() as net.AddressInfo;
  const send = (host: string, headers: string): Promise<void> =>
    new Promise((resolve) => {
      const s = net.connect(port, host, () => s.end(`GET / HTTP/1.1\r\nHost: x\r\n${headers}Connection: close\r\n\r\n`));
      s.on('data', () => {});
      s.on('close', () => resolve());
    });
  await send('127.0.0.1', 'X-Forwarded-For: 6.6.6.6\r\nx-forwarded-for: 198.51.100.1, 127.0.0.2\r\n');
  await send('::1', 'X-Forwarded-For: 198.51.100.1:1234\r\n');
  await send('127.0.0.1', 'X-Forwarded-For: nonsense\r\n');
  srv.close();
  t.deepEqual(seen, [
    ['198.51.100.1', '6.6.6.6, 198.51.100.1, 127.0.0.2, 127.0.0.1', '127.0.0.1'],
    ['198.51.100.1', '198.51.100.1:1234, ::1', '::1'],
    ['', 'nonsense, 127.0.0.1', '127.0.0.1'],
  ]);
});

test('pushForwarded: the three headers as the single functions give them, trusted peer or not', (t) => {
  const cases = [req('203.0.113.9', xff('1.1.1.1')), req(LB, xff('198.51.100.1')), req(`::ffff:${LB}`, [...xff('6.6.6.6'), 'X-Forwarded-Proto', 'https', 'X-Forwarded-Host', 'api.example.com']), req('203.0.113.9', [], true)];
  for (const r of cases) {
    for (const tp of [trusted, none]) {
      const out: string[] = [];
      pushForwarded(out, r, tp, 'own.example');
      t.deepEqual(out, ['x-forwarded-for', forwardedFor(r, tp), 'x-forwarded-proto', forwardedProto(r, tp), 'x-forwarded-host', forwardedHost(r, tp, 'own.example')]);
    }
  }
});
