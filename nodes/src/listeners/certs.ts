/**
 * The TLS listener's certificates: one secure context per configured pair, chosen by SNI
 * from the certificate's own names (subjectAltName DNS entries, else the subject CN); the
 * first pair is the default for clients that send no SNI or an unknown name.
 *
 * Reload without a restart: the files are polled (stat) and a pair whose files changed is
 * read again. A pair replaces its slot only when the whole pair parses and the key matches
 * the certificate, so a half-written or mismatched pair never replaces a good one: the
 * slot keeps serving the old context and the failure is logged and counted.
 */
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';

export interface CertPairConfig { cert: string; key: string }

export interface ContextBase {
  minVersion: tls.SecureVersion;
  /** PEM of client CAs (mTLS) or undefined. */
  clientCa: Buffer | undefined;
}

interface Slot {
  certFile: string;
  keyFile: string;
  /** mtimes + sizes of the two files last read (changed = read again). */
  stamp: string;
  ctx: tls.SecureContext;
  /** The PEM the context was built from (the default pair is also the server's own options). */
  cert: Buffer;
  key: Buffer;
  names: string[];
}

export interface LoadedPair { ctx: tls.SecureContext; cert: Buffer; key: Buffer; names: string[] }

/** Names a certificate answers for, lower-case: DNS SANs, else the subject CN. */
export function certificateNames(pem: Buffer): string[] {
  const x = new X509Certificate(pem);
  const names: string[] = [];
  const san = x.subjectAltName;
  if (san) {
    for (const part of san.split(/,\s*/)) if (part.startsWith('DNS:')) names.push(part.slice(4).toLowerCase());
  }
  if (!names.length) {
    const cn = /(?:^|\n)CN=([^\n]+)/.exec(x.subject);
    if (cn) names.push(cn[1]!.toLowerCase());
  }
  return names;
}

/** Read and check one pair; throws with a readable message when it is not usable. */
export function loadPair(certFile: string, keyFile: string, base: ContextBase): LoadedPair {
  const cert = fs.readFileSync(certFile);
  const key = fs.readFileSync(keyFile);
  let names: string[];
  try { names = certificateNames(cert); } catch (err) { throw new Error(`${certFile}: not a PEM certificate`, { cause: err }); }
  let ctx: tls.SecureContext;
  try {
    ctx = tls.createSecureContext({ cert, key, minVersion: base.minVersion, ...(base.clientCa ? { ca: base.clientCa } : {}) });
  } catch (err) {
    // createSecureContext says "key values mismatch" or a PEM parse error: name the files, not OpenSSL internals.
    const m = /mismatch/i.test((err as Error).message) ? 'key does not match the certificate' : 'unreadable key or certificate';
    throw new Error(`${certFile} + ${keyFile}: ${m}`, { cause: err });
  }
  return { ctx, cert, key, names };
}

function stampOf(a: string, b: string): string {
  const x = fs.statSync(a);
  const y = fs.statSync(b);
  return `${x.mtimeMs}:${x.size}:${y.mtimeMs}:${y.size}`;
}

export class CertStore {
  private readonly slots: Slot[] = [];
  private readonly base: ContextBase;
  private readonly logger: Logger;
  /** Exact names, then wildcard suffixes ('.example.com' for '*.example.com'). */
  private exact = new Map<string, tls.SecureContext>();
  private wild = new Map<string, tls.SecureContext>();
  private timer: NodeJS.Timeout | undefined;
  /** Called when the default pair changed (the server's own context must follow). */
  onDefaultChange: (() => void) | undefined;
  /** Reload outcomes: applied | rejected. */
  onReload: ((result: 'applied' | 'rejected') => void) | undefined;

  /** Loads every pair now; throws (naming the file) when one is unusable at start. */
  constructor(pairs: readonly CertPairConfig[], baseDir: string, base: ContextBase, logger: Logger) {
    this.base = base;
    this.logger = logger;
    for (const p of pairs) {
      const certFile = path.resolve(baseDir, p.cert);
      const keyFile = path.resolve(baseDir, p.key);
      const stamp = stampOf(certFile, keyFile);
      const l = loadPair(certFile, keyFile, base);
      this.slots.push({ certFile, keyFile, stamp, ...l });
    }
    this.index();
  }

  get defaultPair(): { cert: Buffer; key: Buffer } { const s = this.slots[0]!; return { cert: s.cert, key: s.key }; }

  /** Names per slot (for logs and tests). */
  get names(): string[][] { return this.slots.map((s) => s.names); }

  /** The context for an SNI name; undefined = the server's default. */
  lookup(servername: string): tls.SecureContext | undefined {
    const n = servername.toLowerCase();
    const hit = this.exact.get(n);
    if (hit) return hit;
    const dot = n.indexOf('.');
    return dot > 0 ? this.wild.get(n.slice(dot)) : undefined;
  }

  /** tls.Server's SNICallback. */
  readonly sni = (servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void): void => {
    cb(null, this.lookup(servername) ?? this.slots[0]!.ctx);
  };

  /** Poll the files every `everyMs`. */
  watch(everyMs: number): void {
    this.timer = setInterval(() => { this.check(); }, everyMs);
    this.timer.unref();
  }

  stop(): void { clearInterval(this.timer); }

  /** Read again every pair whose files changed. Returns how many slots were replaced. */
  check(): number {
    let changed = 0;
    for (let i = 0; i < this.slots.length; i++) {
      const s = this.slots[i]!;
      let stamp: string;
      try { stamp = stampOf(s.certFile, s.keyFile); } catch { continue; } // mid-rename: next round
      if (stamp === s.stamp) continue;
      try {
        const l = loadPair(s.certFile, s.keyFile, this.base);
        this.slots[i] = { ...s, stamp, ...l };
        changed++;
        this.logger.info({ cert: s.certFile, names: l.names }, 'tls certificate reloaded');
        this.onReload?.('applied');
        if (i === 0) this.onDefaultChange?.();
      } catch (err) {
        // Keep serving the old pair; try again when the files change again.
        s.stamp = stamp;
        this.logger.error({ cert: s.certFile, err: (err as Error).message }, 'tls certificate not reloaded; still serving the previous one');
        this.onReload?.('rejected');
      }
    }
    if (changed) this.index();
    return changed;
  }

  private index(): void {
    const exact = new Map<string, tls.SecureContext>();
    const wild = new Map<string, tls.SecureContext>();
    // The first pair naming a host wins, as the config lists them.
    for (const s of this.slots) {
      for (const n of s.names) {
        if (n.startsWith('*.')) { if (!wild.has(n.slice(1))) wild.set(n.slice(1), s.ctx); } else if (!exact.has(n)) exact.set(n, s.ctx);
      }
    }
    this.exact = exact;
    this.wild = wild;
  }
}
