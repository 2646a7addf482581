/**
 * Token forging kit for tests (unit and the adversarial suite): sign arbitrary header and
 * payload TEXT (duplicate members, odd encodings) with any key, or with none.
 */
import { createHmac, createSign, generateKeyPairSync, sign as edSign, type KeyObject } from 'node:crypto';

export const b64u = (b: Buffer | string): string => Buffer.from(b).toString('base64url');
export const now = (): number => Math.floor(Date.now() / 1000);

export interface KeyPair { privateKey: KeyObject; publicKey: KeyObject; publicPem: string; publicJwk: Record<string, unknown> }

export function rsaPair(): KeyPair {
  return pair(generateKeyPairSync('rsa', { modulusLength: 2048 }));
}
export function ecPair(curve = 'P-256'): KeyPair {
  return pair(generateKeyPairSync('ec', { namedCurve: curve }));
}
export function edPair(): KeyPair {
  return pair(generateKeyPairSync('ed25519'));
}
function pair(p: { privateKey: KeyObject; publicKey: KeyObject }): KeyPair {
  return { ...p, publicPem: p.publicKey.export({ type: 'spki', format: 'pem' }) as string, publicJwk: p.publicKey.export({ format: 'jwk' }) as Record<string, unknown> };
}

const HASH: Record<string, string> = { 256: 'sha256', 384: 'sha384', 512: 'sha512' };

/** The signature of `input` for `alg` with `key` (raw r||s for ECDSA, RFC 7518 §3.4). */
export function signature(alg: string, key: KeyObject | Buffer | string, input: string): Buffer {
  const bits = alg.slice(2);
  if (alg.startsWith('HS')) return createHmac(HASH[bits]!, key as Buffer | string).update(input).digest();
  if (alg === 'EdDSA' || alg === 'Ed25519') return edSign(null, Buffer.from(input), key as KeyObject);
  const s = createSign(HASH[bits]!).update(input);
  if (alg.startsWith('RS')) return s.sign(key as KeyObject);
  if (alg.startsWith('PS')) return s.sign({ key: key as KeyObject, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: Number(bits) / 8 });
  return s.sign({ key: key as KeyObject, dsaEncoding: 'ieee-p1363' });
}

/** A compact JWS from header/payload objects or raw JSON text; `key` undefined = empty signature. */
export function forge(header: Record<string, unknown> | string, payload: Record<string, unknown> | string, key?: KeyObject | Buffer | string): string {
  const h = b64u(typeof header === 'string' ? header : JSON.stringify(header));
  const p = b64u(typeof payload === 'string' ? payload : JSON.stringify(payload));
  const alg = typeof header === 'string' ? (JSON.parse(header) as { alg: string }).alg : (header.alg as string);
  return `${h}.${p}.${key === undefined ? '' : b64u(signature(alg, key, `${h}.${p}`))}`;
}

/** Standard valid claims for `sub`, expiring in an hour. */
export function claims(sub: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { sub, iat: now(), exp: now() + 3600, ...extra };
}
