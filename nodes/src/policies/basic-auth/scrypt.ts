/**
 * Password hashes for basic-auth: `scrypt:N:r:p:saltB64:hashB64` (RFC 7914 parameters, standard
 * base64 with padding). `gatehouse hash-password` writes N=2^15, r=8, p=1 by default (32 MiB,
 * Node's default scrypt memory cap), a 16-byte random salt and a 32-byte hash; `--cost N`
 * picks another N. OWASP's Password Storage Cheat Sheet asks N=2^17 for new systems: that
 * is allowed here but costs ~100 ms of a libuv thread per cache miss, so pair it with the
 * success cache (cache.ts) and a rate limit.
 * Parameters are bounded at load time: a hash with N=2^30 in config must be a config error,
 * not a request that allocates gigabytes.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

export interface ScryptHash { N: number; r: number; p: number; salt: Buffer; hash: Buffer }

export const DEFAULT_PARAMS = { N: 32768, r: 8, p: 1 } as const;
const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Parse and bound a stored hash; throws an Error saying what is wrong (load time only). */
export function parseScrypt(s: string): ScryptHash {
  const parts = s.split(':');
  if (parts.length !== 6 || parts[0] !== 'scrypt') throw new Error('must be scrypt:N:r:p:saltBase64:hashBase64 (see gatehouse hash-password)');
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (!Number.isInteger(N) || N < 1024 || N > 1048576 || (N & (N - 1)) !== 0) throw new Error('scrypt N must be a power of two from 1024 to 1048576');
  if (!Number.isInteger(r) || r < 1 || r > 32) throw new Error('scrypt r must be 1..32');
  if (!Number.isInteger(p) || p < 1 || p > 16) throw new Error('scrypt p must be 1..16');
  if (!B64.test(parts[4]!) || !B64.test(parts[5]!)) throw new Error('scrypt salt and hash must be base64');
  const salt = Buffer.from(parts[4]!, 'base64');
  const hash = Buffer.from(parts[5]!, 'base64');
  if (salt.length < 8 || hash.length < 16 || hash.length > 128) throw new Error('scrypt salt must be at least 8 bytes and the hash 16-128 bytes');
  return { N, r, p, salt, hash };
}

/** Memory scrypt needs is 128·N·r bytes; Node refuses above maxmem (default 32 MiB). */
function maxmem(h: { N: number; r: number }): number {
  return 128 * h.N * h.r * 2 + 1024 * 1024;
}

export function scryptAsync(password: Buffer, h: { N: number; r: number; p: number; salt: Buffer }, len: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, h.salt, len, { N: h.N, r: h.r, p: h.p, maxmem: maxmem(h) }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** Constant-time compare of the derived key against the stored one. */
export async function verifyScrypt(password: Buffer, h: ScryptHash): Promise<boolean> {
  const derived = await scryptAsync(password, h, h.hash.length);
  return timingSafeEqual(derived, h.hash);
}

export async function hashPassword(password: string, params: { N: number; r: number; p: number } = DEFAULT_PARAMS): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scryptAsync(Buffer.from(password, 'utf8'), { ...params, salt }, 32);
  return `scrypt:${params.N}:${params.r}:${params.p}:${salt.toString('base64')}:${hash.toString('base64')}`;
}
