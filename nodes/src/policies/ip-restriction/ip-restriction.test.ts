import test from 'ava';
import { ipRestriction } from './index.ts';
import type { LocalReply, PolicyHandlers } from '../../request/policy.ts';
import { fakeContext, fakeDeps, type FakeRequest } from '../../../../test/helpers/fake-request.ts';

type Cfg = Parameters<typeof ipRestriction.create>[0];
const make = (cfg: Cfg): PolicyHandlers => ipRestriction.create(cfg, fakeDeps());
const code = (h: PolicyHandlers, r: FakeRequest) => (h.request!(fakeContext(r)) as LocalReply | undefined)?.code;

test('allow list: only listed addresses pass', (t) => {
  const h = make({ allow: ['10.0.0.0/8', '2001:db8::/32'] });
  t.is(code(h, { remoteAddress: '10.1.2.3' }), undefined);
  t.is(code(h, { remoteAddress: '11.0.0.1' }), 'GW_FORBIDDEN');
  t.is(code(h, { remoteAddress: '2001:db8:1::5' }), undefined);
  t.is(code(h, { remoteAddress: '2001:db9::1' }), 'GW_FORBIDDEN');
});

test('deny wins over allow', (t) => {
  const h = make({ allow: ['10.0.0.0/8'], deny: ['10.1.0.0/16'] });
  t.is(code(h, { remoteAddress: '10.2.0.1' }), undefined);
  t.is(code(h, { remoteAddress: '10.1.0.1' }), 'GW_FORBIDDEN');
});

test('IPv4-mapped IPv6 is the IPv4 address, both ways', (t) => {
  const deny = make({ deny: ['192.0.2.0/24'] });
  t.is(code(deny, { remoteAddress: '::ffff:192.0.2.7' }), 'GW_FORBIDDEN');
  const mappedRule = make({ deny: ['::ffff:192.0.2.0/120'] });
  t.is(code(mappedRule, { remoteAddress: '192.0.2.7' }), 'GW_FORBIDDEN');
  t.is(code(mappedRule, { remoteAddress: '192.0.3.7' }), undefined);
});

test('X-Forwarded-For is ignored from an untrusted peer', (t) => {
  const h = make({ allow: ['203.0.113.0/24'] });
  t.is(code(h, { remoteAddress: '198.51.100.9', headers: { 'x-forwarded-for': '203.0.113.5' } }), 'GW_FORBIDDEN');
});

test('through trusted proxies the chain is read right to left', (t) => {
  const h = make({ deny: ['198.51.100.0/24'] });
  const base = { remoteAddress: '10.0.0.1', trustedProxies: ['10.0.0.0/8'] };
  // The client prepends a "good" address; the proxy appended the real one.
  t.is(code(h, { ...base, headers: { 'x-forwarded-for': '203.0.113.1, 198.51.100.7' } }), 'GW_FORBIDDEN');
  t.is(code(h, { ...base, headers: { 'x-forwarded-for': '198.51.100.7, 203.0.113.1' } }), undefined);
});

test('an unknown client address fails closed, deny-only rules included', (t) => {
  const base = { remoteAddress: '10.0.0.1', trustedProxies: ['10.0.0.0/8'], headers: { 'x-forwarded-for': '203.0.113.1, not-an-ip' } };
  t.is(code(make({ deny: ['198.51.100.0/24'] }), base), 'GW_FORBIDDEN');
  t.is(code(make({ allow: ['0.0.0.0/0', '::/0'] }), base), 'GW_FORBIDDEN');
  // A User-Agent rule alone does not look at the address.
  t.is(code(make({ denyUserAgents: ['sqlmap'] }), base), undefined);
});

test('User-Agent and Referer patterns; a missing header is matched as ""', (t) => {
  const h = make({ denyUserAgents: ['sqlmap', 'curl/*'], denyReferers: ['*.spam.example/*'] });
  t.is(code(h, { headers: { 'user-agent': 'Mozilla/5.0 SQLMap/1.7' } }), 'GW_FORBIDDEN');
  t.is(code(h, { headers: { 'user-agent': 'curl/8.4.0' } }), 'GW_FORBIDDEN');
  t.is(code(h, { headers: { 'user-agent': 'Mozilla/5.0 curl/8' } }), undefined);
  t.is(code(h, { headers: { referer: 'https://www.spam.example/x' } }), 'GW_FORBIDDEN');
  t.is(code(h, {}), undefined);
  t.is(code(make({ denyUserAgents: ['*'] }), {}), 'GW_FORBIDDEN');
});

test('config errors are refused by validation (and by create() as a backstop)', (t) => {
  const check = (c: object) => ipRestriction.check!(c, { routeName: 'r', doc: {}, path: 'routes.r.policies.ip-restriction' }).map((e) => `${e.path}: ${e.message}`);
  t.deepEqual(check({}), ['routes.r.policies.ip-restriction: needs allow, deny, denyUserAgents or denyReferers']);
  t.deepEqual(check({ allow: ['10.0.0.1/8'], denyUserAgents: ['^curl'] }), [
    'routes.r.policies.ip-restriction.allow: invalid CIDR "10.0.0.1/8": host bits set',
    'routes.r.policies.ip-restriction.denyUserAgents: pattern "^curl" looks like a regular expression; use a plain substring or * globs',
  ]);
  t.throws(() => make({ allow: ['10.0.0.1/8'] }), { message: /ip-restriction\.allow: invalid CIDR "10\.0\.0\.1\/8": host bits set/ });
  t.throws(() => make({ deny: ['010.0.0.1'] }), { message: /invalid CIDR/ });
  t.throws(() => make({ denyUserAgents: ['^curl'] }), { message: /denyUserAgents: pattern "\^curl" looks like a regular expression/ });
});

test('the reply says nothing about which rule matched', (t) => {
  const h = make({ deny: ['10.0.0.0/8'], denyUserAgents: ['x'] });
  const a = h.request!(fakeContext({ remoteAddress: '10.0.0.1' }));
  const b = h.request!(fakeContext({ headers: { 'user-agent': 'x' } }));
  t.deepEqual(a, b);
});
