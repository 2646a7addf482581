/**
 * Strict IP address and CIDR parsing, and a compiled CIDR set for allow-lists and the
 * trusted-proxy list.
 *
 * Strictness defends against the "one address, many spellings" class (CVE-2021-28918 npm
 * netmask, CVE-2021-29921 Python ipaddress, CVE-2021-29923 Go net): only the RFC 3986 §3.2.2
 * dotted-decimal IPv4 form is accepted, so `010.0.0.1` (octal to inet_aton), `1.2.3` (short form),
 * `0x7f.1` / `2130706433` (hex / integer) are all rejected rather than read differently
 * from the OS resolver. IPv6 follows the RFC 4291 §2.2 text forms (hex groups of 1-4 digits,
 * one `::`, optional trailing dotted IPv4).
 *
 * Zone ids (`fe80::1%eth0`, RFC 6874) are rejected: they only scope link-local addresses to
 * an interface, so they cannot identify a client in an allow-list, and accepting them would
 * create a second spelling of the same address.
 *
 * IPv4-mapped IPv6 (`::ffff:10.0.0.1`, RFC 4291 §2.5.5.2) IS the IPv4 address: a dual-stack
 * socket reports IPv4 peers in that form, so treating them apart would let one client
 * match or miss a rule depending on the listener.
 */

/** A parsed address. IPv4 is one unsigned 32-bit number; IPv6 is four 32-bit words, high first. */
export type ParsedIp = { v: 4; addr: number } | { v: 6; words: readonly [number, number, number, number] };

const DOT = 46;
const COLON = 58;

/** Dotted-decimal IPv4 in s[start, end) → unsigned 32-bit value, or -1. No leading zeros. */
export function parseV4(s: string, start: number, end: number): number {
  let value = 0;
  let i = start;
  for (let octet = 0; octet < 4; octet++) {
    if (octet > 0) {
      if (i >= end || s.charCodeAt(i) !== DOT) return -1;
      i++;
    }
    if (i >= end) return -1;
    let c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    let n = c;
    i++;
    while (i < end) {
      c = s.charCodeAt(i) - 48;
      if (c < 0 || c > 9) break;
      if (n === 0) return -1; // leading zero: octal to inet_aton
      n = n * 10 + c;
      if (n > 255) return -1;
      i++;
    }
    value = value * 256 + n;
  }
  return i === end ? value : -1;
}

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}

// Scratch space for the hot path (contains): the process is single-threaded and parsing is
// synchronous, so one buffer is enough and contains() allocates nothing.
const groups = new Uint16Array(8);

/** IPv6 text in s[start, end) → out[0..3] (32-bit words). False when not a valid RFC 4291 form. */
export function parseV6(s: string, start: number, end: number, out: Uint32Array): boolean {
  let i = start;
  let count = 0;
  let gap = -1; // index in groups where '::' stands
  if (end - start < 2) return false;
  if (s.charCodeAt(i) === COLON) {
    if (s.charCodeAt(i + 1) !== COLON) return false;
    gap = 0;
    i += 2;
    if (i === end) return fill(count, gap, out);
  }
  for (;;) {
    if (count === 8) return false;
    const groupStart = i;
    let g = 0;
    while (i < end && i - groupStart < 5) {
      const h = hexVal(s.charCodeAt(i));
      if (h < 0) break;
      g = g * 16 + h;
      i++;
    }
    const digits = i - groupStart;
    if (i < end && s.charCodeAt(i) === DOT) {
      // Trailing dotted IPv4 takes the last two groups.
      if (count > 6) return false;
      const v4 = parseV4(s, groupStart, end);
      if (v4 < 0) return false;
      groups[count++] = v4 >>> 16;
      groups[count++] = v4 & 0xffff;
      return fill(count, gap, out);
    }
    if (digits === 0 || digits > 4) return false;
    groups[count++] = g;
    if (i === end) return fill(count, gap, out);
    if (s.charCodeAt(i) !== COLON) return false;
    i++;
    if (i < end && s.charCodeAt(i) === COLON) {
      if (gap >= 0) return false; // only one '::'
      gap = count;
      i++;
      if (i === end) return fill(count, gap, out);
    } else if (i === end) {
      return false; // trailing single ':'
    }
  }
}

function fill(count: number, gap: number, out: Uint32Array): boolean {
  if (gap < 0 ? count !== 8 : count > 7) return false;
  const zeros = 8 - count;
  let w = 0;
  let hi = 0;
  for (let k = 0; k < 8; k++) {
    let g: number;
    if (gap < 0 || k < gap) g = groups[k]!;
    else if (k < gap + zeros) g = 0;
    else g = groups[k - zeros]!;
    if ((k & 1) === 0) hi = g;
    else out[w++] = (hi * 0x10000 + g) >>> 0;
  }
  return true;
}

const scratch = new Uint32Array(4);
const MAPPED_NET = [0, 0, 0xffff, 0];

function isMapped(w: Uint32Array | readonly number[]): boolean {
  return w[0] === 0 && w[1] === 0 && w[2] === 0xffff;
}

/**
 * Parse one address. Strict (see the file comment); IPv4-mapped IPv6 comes back as IPv4.
 * Brackets, ports and zone ids are not part of an address and are rejected.
 */
export function parseIp(s: string): ParsedIp | undefined {
  if (s.indexOf(':') < 0) {
    const a = parseV4(s, 0, s.length);
    return a < 0 ? undefined : { v: 4, addr: a };
  }
  if (!parseV6(s, 0, s.length, scratch)) return undefined;
  if (isMapped(scratch)) return { v: 4, addr: scratch[3]! };
  return { v: 6, words: [scratch[0]!, scratch[1]!, scratch[2]!, scratch[3]!] };
}

export function formatV4(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/** RFC 5952 §4 canonical text: lower-case, no leading zeros, longest zero run (≥2) as '::'. */
export function formatV6(words: ArrayLike<number>): string {
  const g: number[] = [];
  for (let k = 0; k < 4; k++) g.push(words[k]! >>> 16, words[k]! & 0xffff);
  let best = -1;
  let bestLen = 1;
  for (let k = 0; k < 8; ) {
    if (g[k] !== 0) { k++; continue; }
    let e = k;
    while (e < 8 && g[e] === 0) e++;
    if (e - k > bestLen) { best = k; bestLen = e - k; }
    k = e;
  }
  const hex = (a: number, b: number): string => g.slice(a, b).map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(0, 8);
  return `${hex(0, best)}::${hex(best + bestLen, 8)}`;
}

/** Canonical text of an address (mapped IPv6 → dotted IPv4), or undefined when not an address. */
export function canonicalIp(s: string): string | undefined {
  const p = parseIp(s);
  if (p === undefined) return undefined;
  return p.v === 4 ? formatV4(p.addr) : formatV6(p.words);
}

function prefixLength(s: string, max: number): number {
  if (s.length === 0 || s.length > 3) return -1;
  if (s.length > 1 && s.charCodeAt(0) === 48) return -1;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n <= max ? n : -1;
}

function v6Mask(prefix: number, k: number): number {
  const bits = Math.min(32, Math.max(0, prefix - 32 * k));
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) | 0;
}

/**
 * A set of CIDRs compiled once. IPv4 ranges are merged and sorted (binary search on
 * numbers); IPv6 networks are (network, mask) word quadruples compared with 32-bit ANDs.
 * Entries may be a bare address (/32, /128). A network with host bits set (`10.0.0.1/8`)
 * is rejected as a probable typo: silently widening a trust list is the dangerous way.
 */
export class CidrSet {
  readonly size: number;
  private readonly v4Start: Float64Array;
  private readonly v4End: Float64Array;
  /** Per IPv6 entry: 4 network words then 4 mask words, as signed int32 (the result type of &). */
  private readonly v6: Int32Array;

  constructor(cidrs: readonly string[]) {
    const ranges: [number, number][] = [];
    const v6: number[] = [];
    for (const entry of cidrs) {
      const bad = (why: string): Error => new Error(`invalid CIDR ${JSON.stringify(entry)}: ${why}`);
      if (typeof entry !== 'string') throw bad('not a string');
      const slash = entry.indexOf('/');
      const addrText = slash < 0 ? entry : entry.slice(0, slash);
      const isV6 = addrText.indexOf(':') >= 0;
      const max = isV6 ? 128 : 32;
      const prefix = slash < 0 ? max : prefixLength(entry.slice(slash + 1), max);
      if (prefix < 0) throw bad(`prefix length must be 0-${max}`);
      if (!isV6) {
        const a = parseV4(addrText, 0, addrText.length);
        if (a < 0) throw bad('not a dotted-decimal IPv4 address');
        ranges.push(v4Range(a, prefix, bad));
        continue;
      }
      const w = new Uint32Array(4);
      if (!parseV6(addrText, 0, addrText.length, w)) throw bad('not an IPv6 address');
      if (isMapped(w) && prefix >= 96) {
        ranges.push(v4Range(w[3]!, prefix - 96, bad));
        continue;
      }
      const nets: number[] = [];
      const masks: number[] = [];
      for (let k = 0; k < 4; k++) {
        const m = v6Mask(prefix, k);
        if ((w[k]! & ~m) !== 0) throw bad('host bits set');
        nets.push(w[k]! | 0);
        masks.push(m);
      }
      v6.push(...nets, ...masks);
      // A short prefix (`::/0`, `::/80`) can cover ::ffff:0:0/96; those addresses are IPv4 here.
      if (MAPPED_NET.every((x, k) => (x & masks[k]!) === nets[k])) ranges.push([0, 0xffffffff]);
    }
    this.size = cidrs.length;
    ranges.sort((a, b) => a[0] - b[0]);
    const merged: [number, number][] = [];
    for (const r of ranges) {
      const last = merged[merged.length - 1];
      if (last !== undefined && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
      else merged.push([r[0], r[1]]);
    }
    this.v4Start = Float64Array.from(merged, (r) => r[0]);
    this.v4End = Float64Array.from(merged, (r) => r[1]);
    this.v6 = Int32Array.from(v6);
  }

  /** True when `ip` (an address, not a CIDR) is in the set. Anything unparseable → false. */
  contains(ip: string): boolean {
    if (ip.indexOf(':') < 0) return this.hasV4(parseV4(ip, 0, ip.length));
    if (!parseV6(ip, 0, ip.length, scratch)) return false;
    if (isMapped(scratch)) return this.hasV4(scratch[3]!);
    const t = this.v6;
    const w0 = scratch[0]! | 0, w1 = scratch[1]! | 0, w2 = scratch[2]! | 0, w3 = scratch[3]! | 0;
    for (let k = 0; k < t.length; k += 8) {
      if ((w0 & t[k + 4]!) === t[k] && (w1 & t[k + 5]!) === t[k + 1] && (w2 & t[k + 6]!) === t[k + 2] && (w3 & t[k + 7]!) === t[k + 3]) return true;
    }
    return false;
  }

  private hasV4(a: number): boolean {
    if (a < 0) return false;
    const s = this.v4Start;
    let lo = 0;
    let hi = s.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid]! <= a) lo = mid + 1;
      else hi = mid - 1;
    }
    return hi >= 0 && a <= this.v4End[hi]!;
  }
}

function v4Range(a: number, prefix: number, bad: (why: string) => Error): [number, number] {
  const size = 2 ** (32 - prefix);
  if (a % size !== 0) throw bad('host bits set');
  return [a, a + size - 1];
}
