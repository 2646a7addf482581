/**
 * Buffering a request body for validation, and reading its media type.
 *
 * The body is read in full (Content-Length or chunked: Node has already de-chunked it)
 * up to a limit counted on the bytes received, not on what the client announced, so a
 * chunked body or a lying length cannot get past it (CWE-770). The validated bytes are then
 * what the upstream receives (ctx.body), never a second read of the stream.
 */
import type { IncomingMessage } from 'node:http';

export type BodyResult = Buffer | 'too-large' | 'aborted';

/**
 * Read `req` fully. Over `limit` bytes: stop and resolve 'too-large'. With `restore`
 * (shadow mode: the request must still go through), what was read is put back on the
 * stream (Readable.unshift) and the stream paused, so the upstream still gets every byte.
 */
export function readBody(req: IncomingMessage, limit: number, restore: boolean): Promise<BodyResult> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const done = (r: BodyResult): void => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onAbort);
      req.off('close', onClose);
      resolve(r);
    };
    const onData = (c: Buffer): void => {
      size += c.length;
      chunks.push(c);
      if (size <= limit) return;
      if (restore) {
        req.pause();
        req.unshift(Buffer.concat(chunks, size));
      }
      done('too-large');
    };
    const onEnd = (): void => { done(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)); };
    const onAbort = (): void => { done('aborted'); };
    // 'close' before 'end' means the client went away mid-body.
    const onClose = (): void => { if (!req.complete) done('aborted'); };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onAbort);
    req.on('close', onClose);
  });
}

/** True when the request carries a body (RFC 9112 §6.3: Transfer-Encoding, or a non-zero Content-Length). */
export function hasBody(req: IncomingMessage): boolean {
  const cl = req.headers['content-length'];
  if (cl !== undefined) return cl !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

export interface MediaType {
  /** `type/subtype`, lower-case, without parameters (the "essence"). */
  essence: string;
  /** The charset parameter, lower-case and unquoted, when present. */
  charset: string | undefined;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Parse a Content-Type value (RFC 9110 §8.3.1). undefined when absent or malformed. */
export function parseMediaType(value: string | undefined): MediaType | undefined {
  if (value === undefined) return undefined;
  const semi = value.indexOf(';');
  const essence = (semi < 0 ? value : value.slice(0, semi)).trim().toLowerCase();
  if (!TOKEN.test(essence)) return undefined;
  let charset: string | undefined;
  if (semi >= 0) {
    for (const p of value.slice(semi + 1).split(';')) {
      const eq = p.indexOf('=');
      if (eq < 0) continue;
      if (p.slice(0, eq).trim().toLowerCase() !== 'charset') continue;
      // A second charset parameter is ambiguous: which one did the upstream read?
      if (charset !== undefined) return undefined;
      charset = p.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1').toLowerCase();
    }
  }
  return { essence, charset };
}

/** application/json and the structured-syntax suffix `+json` (RFC 6839 §3.1). */
export function isJsonMediaType(essence: string): boolean {
  return essence === 'application/json' || (essence.endsWith('+json') && essence.indexOf('/') > 0);
}

/**
 * Does `range` cover `essence`? Ranges: exact, `type/*`, `*\/*` (RFC 9110 §12.5.1), and
 * `type/*+suffix` for every type with a structured syntax suffix (RFC 6838 §4.2.8).
 */
export function mediaRangeMatches(range: string, essence: string): boolean {
  if (range === essence || range === '*/*') return true;
  const star = range.indexOf('/*');
  if (star < 0) return false;
  const type = range.slice(0, star + 1);
  if (star + 2 === range.length) return essence.startsWith(type);
  const suffix = range.slice(star + 2); // '+json'
  return suffix.charCodeAt(0) === 0x2b && essence.startsWith(type) && essence.endsWith(suffix) && essence.length > type.length + suffix.length;
}
