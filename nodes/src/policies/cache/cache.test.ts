import test from 'ava';
import { parseCacheControl, parseRequestDirectives, parseResponseDirectives } from './directives.ts';
import { ageSeconds, correctedInitialAge, decide, freshnessLifetime, notStorable, staleOnErrorAllowed, varyNames, FRESH, REVALIDATE, STALE_OK, STALE_REFRESH } from './freshness.ts';
import { Entry, assess, mergeNotModified, type Meta } from './entry.ts';
import { clientHasCurrent, noneMatchHits, sameValidator, validatorHeaders } from './conditional.ts';
import { parseHttpDate } from './http-date.ts';
import { parseDictionary, targetedDirectives } from './targeted.ts';

const T0 = Date.parse('Tue, 01 Jul 2025 12:00:00 GMT');
const DATE = new Date(T0).toUTCString();
const settings = { heuristicMs: 30_000, storeSetCookie: false };

function meta(headers: Record<string, string | string[]>, status = 200, o: { requestTime?: number; responseTime?: number; authorized?: boolean } = {}): Meta {
  const m = assess({ status, headers: { date: DATE, ...headers }, requestTime: o.requestTime ?? T0, responseTime: o.responseTime ?? T0, authorized: o.authorized ?? false }, settings);
  if (typeof m === 'string') throw new Error(`not storable: ${m}`);
  return m;
}

test('Cache-Control: case-insensitive names, quoted values, first occurrence wins, arrays joined', (t) => {
  const d = parseCacheControl(['Max-Age=60, private="set-cookie, x-a"', 'max-age=5, no-cache']);
  t.is(d.get('max-age'), '60');
  t.is(d.get('private'), 'set-cookie, x-a');
  t.is(d.get('no-cache'), true);
  t.is(parseCacheControl('s-maxage="30" , public').get('s-maxage'), '30');
});

test('response directives: invalid max-age is stale, huge delta is 2^31, RFC 5861 windows', (t) => {
  const d = parseResponseDirectives('max-age=abc, s-maxage=99999999999, stale-while-revalidate=10, stale-if-error=20, must-revalidate');
  t.is(d.maxAge, 0);
  t.is(d.sMaxAge, 2 ** 31);
  t.is(d.staleWhileRevalidate, 10);
  t.is(d.staleIfError, 20);
  t.true(d.mustRevalidate);
  t.false(d.noStore);
});

test('request directives: max-stale without value is any staleness; Pragma only without Cache-Control', (t) => {
  t.is(parseRequestDirectives('max-stale', undefined)!.maxStale, Infinity);
  t.is(parseRequestDirectives('max-stale=5, min-fresh=2', undefined)!.minFresh, 2);
  t.true(parseRequestDirectives(undefined, 'no-cache')!.noCache);
  t.false(parseRequestDirectives('max-age=10', 'no-cache')!.noCache);
  t.is(parseRequestDirectives(undefined, 'x-other'), undefined);
  t.true(parseRequestDirectives('only-if-cached', undefined)!.onlyIfCached);
});

test('freshness lifetime: s-maxage over max-age over Expires over heuristic', (t) => {
  const cc = (s: string) => parseResponseDirectives(s);
  t.is(freshnessLifetime(cc('max-age=10, s-maxage=20'), {}, 200, T0, 30_000), 20_000);
  t.is(freshnessLifetime(cc('max-age=10'), { expires: new Date(T0 + 99_000).toUTCString() }, 200, T0, 30_000), 10_000);
  t.is(freshnessLifetime(cc(''), { expires: new Date(T0 + 60_000).toUTCString() }, 200, T0, 30_000), 60_000);
  t.is(freshnessLifetime(cc(''), { expires: '0' }, 200, T0, 30_000), 0, 'invalid Expires = already expired');
  t.is(freshnessLifetime(cc(''), { expires: ['a', 'b'] }, 200, T0, 30_000), 0, 'two Expires = stale');
  t.is(freshnessLifetime(cc(''), {}, 200, T0, 30_000), 30_000, 'heuristic for 200');
  t.is(freshnessLifetime(cc(''), {}, 302, T0, 30_000), undefined, '302 is not heuristically cacheable');
  t.is(freshnessLifetime(cc('public'), {}, 302, T0, 30_000), 30_000, 'public allows the heuristic');
  t.is(freshnessLifetime(cc(''), {}, 200, T0, 0), undefined, 'ttl 0: no heuristic');
});

test('age (RFC 9111 §4.2.3): the larger of apparent age and Age + response delay', (t) => {
  t.is(correctedInitialAge(undefined, T0, T0, T0), 0);
  t.is(correctedInitialAge(undefined, T0 - 5000, T0, T0), 5000, 'apparent age from Date');
  t.is(correctedInitialAge('7', T0, T0 - 300, T0), 7300, 'upstream Age plus round trip');
  t.is(correctedInitialAge('x', T0 + 5000, T0, T0), 0, 'invalid Age ignored, clock ahead gives 0');
  t.is(correctedInitialAge('7200, 0', T0, T0, T0), 7_200_000, 'a list counts by its first member');
  t.is(ageSeconds('0, 7200'), 0);
  t.is(ageSeconds(' 12 '), 12);
  t.is(ageSeconds('1.5'), undefined);
  t.is(ageSeconds('-3'), undefined);
  t.is(ageSeconds('99999999999'), 2 ** 31);
});

test('HTTP-date: the three forms of RFC 9110 §5.6.7 and nothing else', (t) => {
  const at = Date.UTC(1994, 10, 6, 8, 49, 37);
  t.is(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT'), at);
  t.is(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT', T0), at);
  t.is(parseHttpDate('Sun Nov  6 08:49:37 1994'), at);
  t.is(parseHttpDate('SUN, 06 NOV 1994 08:49:37 gmt'), at, 'names in another case are still the date');
  t.is(parseHttpDate('Thursday, 01-Jan-70 00:00:00 GMT', T0), Date.UTC(2070, 0, 1), 'two-digit year within 50 years ahead');
  t.is(parseHttpDate('Tuesday, 01-Jan-80 00:00:00 GMT', T0), Date.UTC(1980, 0, 1), 'more than 50 years ahead: the past century');
  for (const bad of ['Thu, 18 Aug 2050 02:01:18 UTC', 'Thu, 18 Aug 2050 02:01:18 AEST', 'Thu 18 Aug 2050 02:01:18 GMT', 'Thu, 18  Aug  2050 02:01:18 GMT',
    'Thu, 18-Aug-2050 02:01:18 GMT', 'Thu, 18 Aug 2050 02.01.18 GMT', 'Thu, 18 Aug 2050 2:01:18 GMT', 'Thu, 18 Aug 50 02:01:18 GMT',
    'Mon, 31 Feb 2025 00:00:00 GMT', 'Mon, 01 Jan 2025 24:00:00 GMT', '0', '', '2050-08-18T02:01:18Z']) {
    t.is(parseHttpDate(bad), undefined, bad);
  }
});

test('targeted cache control (RFC 9213): a valid CDN-Cache-Control replaces Cache-Control and Expires', (t) => {
  const names = ['cdn-cache-control'];
  t.deepEqual([...parseDictionary('max-age=60, private, x;a=1;b="s", l=(1 2);q=?0')!.keys()], ['max-age', 'private', 'x', 'l']);
  for (const bad of ['max-age="10000"', 'max-age=10000, &&&&&', 'MaX-aGe=3600', 'max-age =100', 'max-age=1,', 'max-age=1.5', 'max-age=-1']) {
    t.is(targetedDirectives({ 'cdn-cache-control': bad }, names), undefined, bad);
  }
  t.is(targetedDirectives({ 'cdn-cache-control': '' }, names), undefined, 'empty: as if absent');
  const d = targetedDirectives({ 'cdn-cache-control': ['max-age=60', 'stale-if-error=5'] }, names)!;
  t.is(d.maxAge, 60);
  t.is(d.staleIfError, 5);
  t.is(targetedDirectives({ 'cdn-cache-control': 'max-age=99999999999' }, names)!.maxAge, 2 ** 31);
  t.true(targetedDirectives({ 'x-cc': 'no-store', 'cdn-cache-control': 'max-age=60' }, ['x-cc', 'cdn-cache-control'])!.noStore, 'first in priority order');
  const s = { ...settings, targeted: names };
  const stored = (headers: Record<string, string>) => assess({ status: 200, headers: { date: DATE, ...headers }, requestTime: T0, responseTime: T0, authorized: false }, s);
  t.is((stored({ 'cache-control': 'no-store', 'cdn-cache-control': 'max-age=60' }) as Meta).lifetime, 60_000);
  t.is(stored({ 'cache-control': 'max-age=3600', 'cdn-cache-control': 'private' }), 'private');
  t.is((stored({ 'cdn-cache-control': 'public', expires: new Date(T0 + 99_000).toUTCString() }) as Meta).lifetime, 30_000, 'Expires ignored: the heuristic applies');
  t.is(stored({ 'cache-control': 'no-store', 'cdn-cache-control': 'max-age="60"' }), 'no-store', 'invalid: Cache-Control applies');
  t.is((assess({ status: 200, headers: { date: DATE, 'cache-control': 'max-age=5', 'cdn-cache-control': 'max-age=60' }, requestTime: T0, responseTime: T0, authorized: false }, settings) as Meta).lifetime, 5000, 'not in the list: ignored');
});

test('storability: no-store, private, Set-Cookie, Authorization, 206, Vary: *', (t) => {
  const cc = (s: string) => parseResponseDirectives(s);
  const o = { authorized: false, storeSetCookie: false };
  t.is(notStorable(200, cc('no-store'), {}, o), 'no-store');
  t.is(notStorable(200, cc('private, max-age=60'), {}, o), 'private');
  t.is(notStorable(200, cc('max-age=60'), { 'set-cookie': 'a=b' }, o), 'set-cookie');
  t.is(notStorable(200, cc('max-age=60'), { 'set-cookie': 'a=b' }, { ...o, storeSetCookie: true }), undefined);
  t.is(notStorable(200, cc('max-age=60'), {}, { ...o, authorized: true }), 'authorization');
  t.is(notStorable(200, cc('public'), {}, { ...o, authorized: true }), undefined);
  t.is(notStorable(200, cc('s-maxage=5'), {}, { ...o, authorized: true }), undefined);
  t.is(notStorable(206, cc('max-age=60'), {}, o), 'status');
  t.deepEqual(varyNames({ vary: 'Accept-Encoding, accept-language' }), ['accept-encoding', 'accept-language']);
  t.is(assess({ status: 200, headers: { vary: 'a, *' }, requestTime: T0, responseTime: T0, authorized: false }, settings), 'vary-star');
  t.is(assess({ status: 200, headers: { 'cache-control': 'no-cache' }, requestTime: T0, responseTime: T0, authorized: false }, settings), 'no-cache-without-validator');
  t.is(assess({ status: 302, headers: {}, requestTime: T0, responseTime: T0, authorized: false }, settings), 'no-freshness');
});

test('decide: fresh, stale-while-revalidate, must-revalidate, request max-age/min-fresh/max-stale/no-cache', (t) => {
  const swr = meta({ 'cache-control': 'max-age=10, stale-while-revalidate=5' });
  t.is(decide(swr, T0 + 9_000, undefined), FRESH);
  t.is(decide(swr, T0 + 12_000, undefined), STALE_REFRESH);
  t.is(decide(swr, T0 + 16_000, undefined), REVALIDATE);
  const mr = meta({ 'cache-control': 'max-age=10, stale-while-revalidate=5, must-revalidate', etag: '"a"' });
  t.is(decide(mr, T0 + 12_000, undefined), REVALIDATE, 'must-revalidate forbids stale');
  const sm = meta({ 'cache-control': 's-maxage=10, stale-while-revalidate=5' });
  t.is(decide(sm, T0 + 12_000, undefined), REVALIDATE, 's-maxage implies proxy-revalidate');
  const plain = meta({ 'cache-control': 'max-age=10' });
  const rd = (s: string) => parseRequestDirectives(s, undefined);
  t.is(decide(plain, T0 + 5_000, rd('max-age=0')), REVALIDATE);
  t.is(decide(plain, T0, rd('max-age=0')), REVALIDATE, 'max-age=0 revalidates even a response stored this millisecond');
  t.is(decide(plain, T0 + 5_000, rd('max-age=6')), FRESH);
  t.is(decide(plain, T0 + 5_000, rd('min-fresh=6')), REVALIDATE);
  t.is(decide(plain, T0 + 5_000, rd('no-cache')), REVALIDATE);
  t.is(decide(plain, T0 + 12_000, rd('max-stale=5')), STALE_OK);
  t.is(decide(plain, T0 + 16_000, rd('max-stale=5')), REVALIDATE);
  const nc = meta({ 'cache-control': 'no-cache', etag: '"a"' });
  t.is(decide(nc, T0, undefined), REVALIDATE, 'no-cache: always revalidate');
});

test('stale-if-error window, from the response or the request; never with must-revalidate', (t) => {
  const e = meta({ 'cache-control': 'max-age=10, stale-if-error=30' });
  t.true(staleOnErrorAllowed(e, T0 + 20_000, undefined));
  t.false(staleOnErrorAllowed(e, T0 + 41_000, undefined));
  const plain = meta({ 'cache-control': 'max-age=10' });
  t.false(staleOnErrorAllowed(plain, T0 + 20_000, undefined));
  t.true(staleOnErrorAllowed(plain, T0 + 20_000, parseRequestDirectives('stale-if-error=60', undefined)));
  const mr = meta({ 'cache-control': 'max-age=10, stale-if-error=30, must-revalidate' });
  t.false(staleOnErrorAllowed(mr, T0 + 20_000, undefined));
});

test('entry: Age header from the age base, hit reply reused within a second, gateway headers not stored', (t) => {
  const m = meta({ 'cache-control': 'max-age=60', age: '3', 'content-length': '2', 'x-cache': 'HIT', etag: '"v1"' });
  const e = new Entry(m, Buffer.from('ok'), { partition: 'r', keyValues: undefined }, {});
  t.is(e.headers.age, undefined);
  t.is(e.headers['content-length'], undefined);
  const r1 = e.hitReply(T0 + 1000);
  t.is(r1.headers!.age, '4');
  t.is(r1.headers!['x-cache'], 'HIT');
  t.is(e.hitReply(T0 + 1500), r1, 'same second: same object');
  t.is(e.hitReply(T0 + 2000).headers!.age, '5');
  t.is(e.freshUntil, T0 - 3000 + 60_000);
  const nm = e.notModified(T0, 'HIT');
  t.is(nm.status, 304);
  t.is(nm.headers!.etag, '"v1"');
  t.is(nm.headers!['cache-control'], 'max-age=60');
});

test('validators: weak If-None-Match comparison, If-Modified-Since only without If-None-Match', (t) => {
  t.true(noneMatchHits('W/"a", "b"', '"a"'));
  t.true(noneMatchHits('*', '"z"'));
  t.false(noneMatchHits('"a,b"', '"a"'));
  const lm = Date.parse('Mon, 30 Jun 2025 12:00:00 GMT');
  t.true(clientHasCurrent({ 'if-modified-since': 'Mon, 30 Jun 2025 12:00:00 GMT' }, undefined, lm));
  t.false(clientHasCurrent({ 'if-modified-since': 'Sun, 29 Jun 2025 12:00:00 GMT' }, undefined, lm));
  t.false(clientHasCurrent({ 'if-none-match': '"x"', 'if-modified-since': 'Mon, 30 Jun 2025 12:00:00 GMT' }, '"a"', lm));
  t.deepEqual(validatorHeaders('"a"', 'Mon, 30 Jun 2025 12:00:00 GMT'), ['if-none-match', '"a"', 'if-modified-since', 'Mon, 30 Jun 2025 12:00:00 GMT']);
  t.true(sameValidator('"a"', 'W/"a"'));
  t.false(sameValidator('"a"', '"b"'));
  const merged = mergeNotModified({ etag: '"a"', 'cache-control': 'max-age=1', 'content-type': 'text/plain' }, { 'cache-control': 'max-age=60', 'content-length': '0' });
  t.deepEqual(merged, { etag: '"a"', 'cache-control': 'max-age=60', 'content-type': 'text/plain' });
});
