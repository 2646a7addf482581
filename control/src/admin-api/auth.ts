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

/** Who a request is: the token's name (for the audit log, never the token), its role and scope. */
export interface Identity {
  name: string;
  role: 'admin' | 'viewer';
  /** Only routes and upstreams whose names start with this may be written (admin only). */
  prefix?: string;
}

interface TokenEntry extends Identity { digest: Buffer }

const ROLES = ['admin', 'viewer'] as const;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

/**
 * A tokens file (`gatewayctl serve --tokens-file F`): one token per line,
 * `name role sha256:<hex digest of the token> [prefix=ROUTE-NAME-PREFIX]`; `#` starts a
 * comment. Only digests are stored, so the file gives nobody a usable token. Every error
 * names its line.
 */
export interface TokensFile { identities: Identity[]; entries: TokenEntry[] }

export function parseTokensFile(text: string, file = 'tokens file'): TokensFile {
  const entries: TokenEntry[] = [];
  const errors: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) return;
    const where = `${file}:${i + 1}`;
    const [name, role, dig, ...rest] = line.split(/\s+/);
    if (!name || !NAME_RE.test(name)) { errors.push(`${where}: name must be letters, digits, . _ @ - (got ${JSON.stringify(name ?? '')})`); return; }
    if (!(ROLES as readonly string[]).includes(role ?? '')) { errors.push(`${where}: role must be one of ${ROLES.join(', ')} (got ${JSON.stringify(role ?? '')})`); return; }
    const m = /^(?:sha256:)?([0-9a-fA-F]{64})$/.exec(dig ?? '');
    if (!m) { errors.push(`${where}: the third field must be the token's SHA-256 digest, sha256:<64 hex digits> (gatewayctl token-digest prints it)`); return; }
    let prefix: string | undefined;
    for (const opt of rest) {
      const pm = /^prefix=([A-Za-z0-9][A-Za-z0-9._-]{0,127})$/.exec(opt);
      if (!pm) { errors.push(`${where}: unknown option ${JSON.stringify(opt)} (allowed: prefix=NAME-PREFIX)`); return; }
      prefix = pm[1];
    }
    if (prefix !== undefined && role !== 'admin') { errors.push(`${where}: prefix= limits writes, so it goes with role admin`); return; }
    if (entries.some((e) => e.name === name)) { errors.push(`${where}: name ${name} is used twice (the audit log must tell tokens apart)`); return; }
    entries.push({ name, role: role as Identity['role'], digest: Buffer.from(m[1]!.toLowerCase(), 'hex'), ...(prefix !== undefined ? { prefix } : {}) });
  });
  if (errors.length) throw new Error(errors.join('\n'));
  if (!entries.length) throw new Error(`${file}: no tokens`);
  return { identities: entries.map(({ digest: _d, ...id }) => id), entries };
}

/** sha256:<hex> of a token, as a tokens file holds it. */
export function tokenDigest(token: string): string {
  return `sha256:${digest(token).toString('hex')}`;
}

/**
 * A checker that tells who presented an Authorization header: each known digest is compared
 * with timingSafeEqual, all of them every time (no early exit), so timing says neither
 * whether nor which token matched.
 */
export function identityChecker(o: { token?: string | undefined; tokens?: TokensFile | undefined }): (header: string | undefined) => Identity | undefined {
  const entries: TokenEntry[] = [...(o.tokens?.entries ?? [])];
  if (o.token !== undefined) {
    if (o.token.length < MIN_TOKEN_LENGTH) throw new Error(`admin token must be at least ${MIN_TOKEN_LENGTH} characters`);
    entries.push({ name: 'admin', role: 'admin', digest: digest(o.token) });
  }
  if (!entries.length) throw new Error('no admin token');
  return (header) => {
    const m = typeof header === 'string' ? /^bearer +(\S+) *$/i.exec(header) : null;
    const presented = digest(m?.[1] ?? '');
    let found: TokenEntry | undefined;
    for (const e of entries) if (timingSafeEqual(presented, e.digest) && !found) found = e;
    if (!found || !m) return undefined;
    const { digest: _d, ...id } = found;
    return id;
  };
}
