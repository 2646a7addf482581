/**
 * Verification keys, resolved at load time. The key type decides the algorithm family,
 * never the token: HMAC algorithms need `secret` and refuse keys/jwks; asymmetric ones need
 * keys/jwks and refuse `secret`. So an RSA public key can never be used as an HMAC secret
 * (algorithm confusion: CVE-2016-10555, CVE-2015-9235), and keys embedded in the
 * token (`jwk`, `jku`, `x5u`, `x5c` header parameters, RFC 7515 §4.1.3-6) are never read:
 * only the keys configured here verify anything.
 */
import { createPublicKey, X509Certificate, type KeyObject, type JsonWebKeyInput } from 'node:crypto';
import { createRemoteJWKSet, type JWTVerifyGetKey, type RemoteJWKSet } from 'jose';
import type { Algorithm } from './schema.ts';

export interface StaticKey { key: KeyObject; kid: string | undefined; algs: ReadonlySet<string> }

const CURVE: Record<string, string> = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' };
const HMAC_MIN: Record<string, number> = { HS256: 32, HS384: 48, HS512: 64 };

export const isHmac = (alg: string): boolean => alg.startsWith('HS');

/** Which pinned algorithms a key can verify. */
function fits(k: KeyObject, alg: string): boolean {
  const t = k.asymmetricKeyType;
  if (alg.startsWith('RS')) return t === 'rsa';
  if (alg.startsWith('PS')) return t === 'rsa' || t === 'rsa-pss';
  if (alg.startsWith('ES')) return t === 'ec' && k.asymmetricKeyDetails?.namedCurve === CURVE[alg];
  if (alg === 'EdDSA' || alg === 'Ed25519') return t === 'ed25519';
  return false;
}

export function importStaticKeys(items: ReadonlyArray<string | Record<string, unknown>>, algorithms: readonly Algorithm[]): StaticKey[] {
  return items.map((item, i) => {
    const where = `keys[${i}]`;
    let key: KeyObject;
    let kid: string | undefined;
    let jwkAlg: string | undefined;
    if (typeof item === 'string') {
      if (/PRIVATE KEY/.test(item)) throw new Error(`${where}: is a private key; configure the public key only`);
      try {
        key = /BEGIN CERTIFICATE/.test(item) ? new X509Certificate(item).publicKey : createPublicKey(item);
      } catch { throw new Error(`${where}: not a PEM public key or certificate`); }
    } else {
      if ('d' in item || 'p' in item || 'k' in item || item.kty === 'oct') throw new Error(`${where}: JWK has private or symmetric key material; configure the public key only`);
      try { key = createPublicKey({ key: item as JsonWebKeyInput['key'], format: 'jwk' }); } catch { throw new Error(`${where}: not a valid public JWK`); }
      kid = typeof item.kid === 'string' ? item.kid : undefined;
      jwkAlg = typeof item.alg === 'string' ? item.alg : undefined;
    }
    const algs = new Set(algorithms.filter((a) => fits(key, a) && (jwkAlg === undefined || jwkAlg === a)));
    if (!algs.size) throw new Error(`${where}: a ${key.asymmetricKeyType} key can verify none of the algorithms ${algorithms.join(', ')}`);
    // RFC 7518 §3.3: RSA keys of 2048 bits or more.
    const bits = key.asymmetricKeyDetails?.modulusLength;
    if (bits !== undefined && bits < 2048) throw new Error(`${where}: RSA keys must be at least 2048 bits`);
    return { key, kid, algs };
  });
}

/** Keys a token may be verified with: matching alg, and kid when both sides name one. */
export function candidates(keys: readonly StaticKey[], alg: string, kid: unknown): StaticKey[] {
  return keys.filter((k) => k.algs.has(alg) && (kid === undefined || k.kid === undefined || k.kid === kid));
}

/** RFC 7518 §3.2: an HMAC key at least as long as the hash output. */
export function importSecret(secret: string, encoding: 'utf8' | 'base64' | 'base64url', algorithms: readonly Algorithm[]): Uint8Array {
  const bytes = new Uint8Array(Buffer.from(secret, encoding));
  for (const a of algorithms) {
    const min = HMAC_MIN[a]!;
    if (bytes.length < min) throw new Error(`secret: ${a} needs a secret of at least ${min} bytes (RFC 7518 §3.2)`);
  }
  return bytes;
}

/**
 * Remote key sets are shared by URL and cache settings across routes and config reloads,
 * so a reload (frequent in cluster mode) doesn't refetch every JWKS. jose caches the set
 * for `maxAge` and refetches on an unknown kid at most once per `cooldown`, so random kids
 * can't turn the gateway into a request amplifier against the issuer.
 */
const remote = new Map<string, RemoteJWKSet>();
const MAX_REMOTE = 64;

export function remoteKeySet(url: string, maxAge: number, cooldown: number, timeout: number, onError: (err: unknown) => void): JWTVerifyGetKey {
  const id = `${url} ${maxAge} ${cooldown} ${timeout}`;
  let set = remote.get(id);
  if (set === undefined) {
    set = createRemoteJWKSet(new URL(url), { cacheMaxAge: maxAge, cooldownDuration: cooldown, timeoutDuration: timeout });
    if (remote.size >= MAX_REMOTE) remote.delete(remote.keys().next().value!);
    remote.set(id, set);
  }
  // Prefetch at load time so the first request doesn't wait for the issuer; a failure is
  // only logged (requests retry the fetch, subject to the cooldown).
  if (!set.fresh && !set.reloading) set.reload().catch(onError);
  return set;
}
