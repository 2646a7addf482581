/**
 * `Authorization: Basic <base64(user-id ":" password)>` (RFC 7617 §2). Anything malformed is
 * a refusal (401), never an exception (500): strict base64 with padding, exactly one
 * scheme token, UTF-8 user-id (charset="UTF-8", §2.1). The password stays bytes: it is
 * hashed as sent, with no normalisation, so one password has one spelling.
 */

export type Parsed =
  | { kind: 'none' } // no Basic credential (absent, or another scheme such as Bearer)
  | { kind: 'malformed' }
  | { kind: 'ok'; user: string; password: Buffer; raw: Buffer };

const NONE: Parsed = Object.freeze({ kind: 'none' });
const MALFORMED: Parsed = Object.freeze({ kind: 'malformed' });
const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });
/** Far above any real credential; bounds the work on hostile input. */
const MAX = 4096;

export function parseBasic(header: string | undefined): Parsed {
  if (header === undefined) return NONE;
  // Scheme names are case-insensitive (RFC 9110 §11.1).
  if (header.length < 5 || header.slice(0, 5).toLowerCase() !== 'basic') return NONE;
  if (header.length === 5) return MALFORMED;
  const sep = header.charCodeAt(5);
  if (sep !== 0x20 && sep !== 0x09) return NONE; // `Basicfoo` is another scheme name
  const token = header.slice(6).trim();
  if (token.length === 0 || token.length > MAX || !B64.test(token)) return MALFORMED;
  const raw = Buffer.from(token, 'base64');
  // Canonical only: unused trailing bits must be zero, or two spellings decode the same.
  if (raw.toString('base64') !== token) return MALFORMED;
  const colon = raw.indexOf(0x3a);
  if (colon <= 0) return MALFORMED;
  let user: string;
  try { user = utf8.decode(raw.subarray(0, colon)); } catch { return MALFORMED; }
  return { kind: 'ok', user, password: raw.subarray(colon + 1), raw };
}
