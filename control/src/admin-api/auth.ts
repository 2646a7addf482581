/**
 * Admin API authentication: one bearer token, required on every request. The API refuses to
 * start without one (a config store writable by anyone who can reach the port is a takeover
 * of every route), and refuses tokens shorter than 16 characters.
 *
 * The comparison hashes both sides with SHA-256 and compares the digests with
 * crypto.timingSafeEqual: equal-length inputs whatever the presented token's length, and no
 * early exit on the first differing byte, so response timing says nothing about the token.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';

export const MIN_TOKEN_LENGTH = 16;
export const TOKEN_ENV = 'GATEHOUSE_ADMIN_TOKEN';

export interface TokenSource {
  tokenFile?: string | undefined;
  env?: NodeJS.ProcessEnv;
}

export interface LoadedToken {
  token: string;
  /** Where it came from, for the startup log (never the token). */
  from: string;
  /** Advice worth logging, e.g. a token file others can read. */
  warnings: string[];
}

/** The token from `--token-file` (first line, trimmed) or $GATEHOUSE_ADMIN_TOKEN; throws with a message fit for a user. */
export function loadToken(src: TokenSource): LoadedToken {
  const warnings: string[] = [];
  let token: string | undefined;
  let from: string;
  if (src.tokenFile) {
    from = src.tokenFile;
    let text: string;
    try {
      text = readFileSync(src.tokenFile, 'utf8');
    } catch (err) {
      throw new Error(`cannot read token file ${src.tokenFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
    }
    token = text.split(/\r?\n/)[0]?.trim();
    try {
      if (process.platform !== 'win32' && (statSync(src.tokenFile).mode & 0o077) !== 0) {
        warnings.push(`token file ${src.tokenFile} is readable by group or others; chmod 600 it`);
      }
    } catch { /* read above worked; a stat failure changes nothing */ }
  } else {
    from = `$${TOKEN_ENV}`;
    token = (src.env ?? process.env)[TOKEN_ENV]?.trim();
  }
  if (!token) throw new Error(`no admin token: pass --token-file FILE or set ${TOKEN_ENV} (the admin API never runs without one)`);
  if (token.length < MIN_TOKEN_LENGTH) throw new Error(`admin token from ${from} is too short: at least ${MIN_TOKEN_LENGTH} characters`);
  if (/\s/.test(token)) throw new Error(`admin token from ${from} contains whitespace`);
  return { token, from, warnings };
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** A checker for `Authorization` header values; the token itself is not kept, only its digest. */
export function bearerChecker(token: string): (header: string | undefined) => boolean {
  if (token.length < MIN_TOKEN_LENGTH) throw new Error(`admin token must be at least ${MIN_TOKEN_LENGTH} characters`);
  const expected = digest(token);
  return (header) => {
    if (typeof header !== 'string') return false;
    // RFC 6750 section 2.1: "Bearer" (case-insensitive), one or more spaces, the token.
    const m = /^bearer +(\S+) *$/i.exec(header);
    // Always compare, even with no usable header, so a malformed header costs the same time.
    const ok = timingSafeEqual(digest(m?.[1] ?? ''), expected);
    return ok && m !== null;
  };
}
