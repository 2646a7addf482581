import test from 'ava';
import { CidrSet, canonicalIp, formatV6, parseIp } from './cidr.ts';

const v4 = (s: string): number => s.split('.').reduce((a, o) => a * 256 + Number(o), 0);

test('parseIp: IPv4 dotted decimal only', (t) => {
  t.deepEqual(parseIp('1.2.3.4'), { v: 4, addr: v4('1.2.3.4') });
  t.deepEqual(parseIp('0.0.0.0'), { v: 4, addr: 0 });
  t.deepEqual(parseIp('255.255.255.255'), { v: 4, addr: 0xffffffff });
  t.deepEqual(parseIp('10.0.0.10'), { v: 4, addr: v4('10.0.0.10') });
  for (const bad of ['010.0.0.1', '1.2.3.04', '00.0.0.0', '1.2.3', '1.2', '1', '2130706433', '0x7f.0.0.1', '0x7f000001', '127.1', '1.2.3.4.5', '256.0.0.1', '1.2.3.999', '1.2.3.', '.1.2.3', '1..2.3', ' 1.2.3.4', '1.2.3.4 ', '1.2.3.4/32', '1.2.3.4:80', '１.2.3.4', '+1.2.3.4', '-1.2.3.4', '']) {
    t.is(parseIp(bad), undefined, bad);
  }
});

test('parseIp: IPv6 forms (RFC 4291 §2.2)', (t) => {
  t.deepEqual(parseIp('::'), { v: 6, words: [0, 0, 0, 0] });
  t.deepEqual(parseIp('::1'), { v: 6, words: [0, 0, 0, 1] });
  t.deepEqual(parseIp('2001:db8::1'), { v: 6, words: [0x20010db8, 0, 0, 1] });
  t.deepEqual(parseIp('2001:DB8:0:0:0:0:0:1'), parseIp('2001:db8::1'));
  t.deepEqual(parseIp('2001:0db8:0000::0001'), parseIp('2001:db8::1'));
  t.deepEqual(parseIp('1:2:3:4:5:6:7:8'), { v: 6, words: [0x10002, 0x30004, 0x50006, 0x70008] });
  t.deepEqual(parseIp('1::'), { v: 6, words: [0x10000, 0, 0, 0] });
  t.deepEqual(parseIp('1:2:3:4:5:6:7::'), { v: 6, words: [0x10002, 0x30004, 0x50006, 0x70000] });
  t.deepEqual(parseIp('::2:3:4:5:6:7:8'), { v: 6, words: [0x2, 0x30004, 0x50006, 0x70008] });
  t.deepEqual(parseIp('::1.2.3.4'), { v: 6, words: [0, 0, 0, v4('1.2.3.4')] }, 'IPv4-compatible stays IPv6');
  t.deepEqual(parseIp('64:ff9b::1.2.3.4'), { v: 6, words: [0x64ff9b, 0, 0, v4('1.2.3.4')] });
  t.deepEqual(parseIp('1:2:3:4:5:6:1.2.3.4'), { v: 6, words: [0x10002, 0x30004, 0x50006, v4('1.2.3.4')] });
  for (const bad of [':', ':::', '1:::2', '1::2::3', ':1', '1:', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7:8::', '::1:2:3:4:5:6:7:8', '12345::', 'g::', '::ffff:1.2.3', '::ffff:01.2.3.4', '::1.2.3.4:5', '1:2:3:4:5:6:7:1.2.3.4', '1.2.3.4::', '[::1]', '[::1]:80', 'fe80::1%eth0', 'fe80::1%25eth0', ' ::1', '::1 ', '::1/128']) {
    t.is(parseIp(bad), undefined, bad);
  }
});

test('parseIp: IPv4-mapped IPv6 is the IPv4 address', (t) => {
  t.deepEqual(parseIp('::ffff:10.0.0.1'), { v: 4, addr: v4('10.0.0.1') });
  t.deepEqual(parseIp('::FFFF:10.0.0.1'), { v: 4, addr: v4('10.0.0.1') });
  t.deepEqual(parseIp('::ffff:a00:1'), { v: 4, addr: v4('10.0.0.1') });
  t.deepEqual(parseIp('0:0:0:0:0:ffff:0a00:0001'), { v: 4, addr: v4('10.0.0.1') });
  t.deepEqual(parseIp('::ffff:0:0'), { v: 4, addr: 0 });
});

test('canonical text (RFC 5952)', (t) => {
  t.is(canonicalIp('2001:0DB8:0:0:0:0:0:1'), '2001:db8::1');
  t.is(canonicalIp('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1');
  t.is(canonicalIp('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1');
  t.is(canonicalIp('0:0:0:0:0:0:0:0'), '::');
  t.is(canonicalIp('::ffff:7f00:1'), '127.0.0.1');
  t.is(canonicalIp('1.2.3.4'), '1.2.3.4');
  t.is(canonicalIp('nope'), undefined);
  t.is(formatV6([0x10000, 0, 0, 0]), '1::');
});

test('CidrSet: IPv4 ranges', (t) => {
  const s = new CidrSet(['10.0.0.0/8', '192.168.1.1', '172.16.0.0/12', '0.0.0.0/32']);
  t.is(s.size, 4);
  for (const ip of ['10.0.0.0', '10.255.255.255', '192.168.1.1', '172.16.0.1', '172.31.255.255', '0.0.0.0', '::ffff:10.1.2.3', '::ffff:a01:203']) t.true(s.contains(ip), ip);
  for (const ip of ['9.255.255.255', '11.0.0.0', '192.168.1.2', '172.32.0.0', '010.0.0.1', '10.1', '167772161', '0x0a000001', '', 'garbage', '::a00:1', '10.0.0.1 ']) t.false(s.contains(ip), ip);
});

test('CidrSet: everything and nothing', (t) => {
  const all = new CidrSet(['0.0.0.0/0']);
  t.true(all.contains('255.255.255.255'));
  t.true(all.contains('::ffff:1.2.3.4'));
  t.false(all.contains('::1'));
  const none = new CidrSet([]);
  t.is(none.size, 0);
  t.false(none.contains('1.2.3.4'));
  t.false(none.contains('::1'));
});

test('CidrSet: IPv6 networks', (t) => {
  const s = new CidrSet(['2001:db8::/32', '::1', 'fd00::/8', '2001:db9:0:0:8000::/65']);
  for (const ip of ['2001:db8::', '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', '::1', '0:0:0:0:0:0:0:1', 'fdff::1', '2001:db9::8000:0:0:1', '2001:DB8::1']) t.true(s.contains(ip), ip);
  for (const ip of ['2001:db9::', '::2', '::', 'fe00::', '2001:db9::7fff:0:0:1', '1.2.3.4', '::ffff:1.2.3.4', '[::1]', 'fe80::1%eth0']) t.false(s.contains(ip), ip);
});

test('CidrSet: v4-mapped CIDRs are IPv4 CIDRs', (t) => {
  const s = new CidrSet(['::ffff:10.0.0.0/104']);
  t.true(s.contains('10.20.30.40'));
  t.true(s.contains('::ffff:10.20.30.40'));
  t.false(s.contains('11.0.0.0'));
  const any4 = new CidrSet(['::ffff:0:0/96']);
  t.true(any4.contains('1.2.3.4'));
  t.true(any4.contains('::ffff:1.2.3.4'));
  t.false(any4.contains('::1'));
  t.true(new CidrSet(['::ffff:1.2.3.4/128']).contains('1.2.3.4'));
});

test('CidrSet: a short IPv6 prefix covering ::ffff:0:0/96 covers IPv4', (t) => {
  t.true(new CidrSet(['::/0']).contains('1.2.3.4'));
  t.true(new CidrSet(['::/64']).contains('1.2.3.4'));
  t.true(new CidrSet(['::/80']).contains('1.2.3.4'));
  t.false(new CidrSet(['::/81']).contains('1.2.3.4'));
  t.false(new CidrSet(['2000::/3']).contains('1.2.3.4'));
});

test('CidrSet: overlapping and adjacent IPv4 ranges merge correctly', (t) => {
  const s = new CidrSet(['10.0.0.0/24', '10.0.1.0/24', '10.0.0.128/25', '10.0.3.0/24', '9.0.0.0/8']);
  for (const ip of ['10.0.0.0', '10.0.1.255', '10.0.3.7', '9.9.9.9']) t.true(s.contains(ip), ip);
  for (const ip of ['10.0.2.0', '10.0.4.0', '8.255.255.255']) t.false(s.contains(ip), ip);
});

test('CidrSet: invalid entries throw an Error naming the entry', (t) => {
  for (const bad of ['10.0.0.1/8', '1.2.3.4/33', '1.2.3.4/08', '1.2.3.4/', '1.2.3.4/-1', '1.2.3.4/ 8', '010.0.0.0/8', '10.0.0/24', 'x', '', '::1/129', '2001:db8::1/32', '::ffff:10.0.0.1/104', 'fe80::/10%eth0', '[::1]', '1.2.3.4/32/1', '10.0.0.0/8 ']) {
    const e = t.throws(() => new CidrSet(['10.0.0.0/8', bad]), undefined, bad);
    t.true(e!.message.includes(JSON.stringify(bad)), e!.message);
  }
  t.throws(() => new CidrSet([42 as unknown as string]));
});
