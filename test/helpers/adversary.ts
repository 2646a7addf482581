/**
 * Helpers for the adversarial suites (test/integration/adversarial*.test.ts): send exact
 * bytes, split what came back into responses, and check a refusal is the documented
 * problem+json with nothing internal in it.
 */
import type { ExecutionContext } from 'ava';
import { raw } from './http.ts';

export interface RawResponse { status: number; headers: Record<string, string[]>; body: string }

/** Split a raw HTTP/1.1 byte stream (latin1) into responses; bodies by Content-Length or chunked. */
export function parseResponses(text: string): RawResponse[] {
  const out: RawResponse[] = [];
  let rest = text;
  while (rest.startsWith('HTTP/1.1 ')) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) break;
    const lines = rest.slice(0, end).split('\r\n');
    const status = Number(lines[0]!.slice(9, 12));
    const headers: Record<string, string[]> = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      (headers[l.slice(0, i).trim().toLowerCase()] ??= []).push(l.slice(i + 1).trim());
    }
    let body = '';
    let next = end + 4;
    const cl = headers['content-length']?.[0];
    if (cl !== undefined) { body = rest.slice(next, next + Number(cl)); next += Number(cl); }
    else if (headers['transfer-encoding']?.[0] === 'chunked') {
      for (;;) {
        const le = rest.indexOf('\r\n', next);
        const size = parseInt(rest.slice(next, le), 16);
        next = le + 2;
        if (!size) { next += 2; break; }
        body += rest.slice(next, next + size);
        next += size + 2;
      }
    }
    out.push({ status, headers, body });
    rest = rest.slice(next);
  }
  return out;
}

/**
 * One request with an exact request line and headers; the gateway's responses. Add
 * `Connection: close` (as get() does) so the exchange ends when the server closes, not
 * after an idle wait that a loaded machine might exceed.
 */
export async function send(port: number, lines: string[], body: string | Buffer = '', idleMs = 3000): Promise<RawResponse[]> {
  const head = Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');
  return parseResponses(await raw(port, Buffer.concat([head, typeof body === 'string' ? Buffer.from(body, 'latin1') : body]), idleMs));
}

export const get = (target: string, headers: string[] = []): string[] => [`GET ${target} HTTP/1.1`, 'Host: gw.test', 'Connection: close', ...headers];

const INTERNAL = /\bat [\w.<>]+ \(|node:internal|\bHPE_|\bECONN|\bUND_ERR|TypeError|SyntaxError|RangeError|JOSE|JWS|JWK|ERR_|stack|scrypt|undefined|\[object/;

/** The body is a problem+json of the documented members only, with no internal text. */
export function assertProblem(t: ExecutionContext, r: { status: number; body: string; headers: Record<string, unknown> }, status: number, code: string, hidden: readonly string[] = []): void {
  t.is(r.status, status, `status for ${code}`);
  const ct = r.headers['content-type'];
  t.is(Array.isArray(ct) ? ct[0] : ct, 'application/problem+json');
  const b = JSON.parse(r.body) as Record<string, unknown>;
  t.is(b.code, code);
  for (const k of Object.keys(b)) t.true(['type', 'title', 'status', 'detail', 'code', 'requestId', 'errors'].includes(k), `undocumented member ${k}`);
  t.false(INTERNAL.test(r.body), `internal text in ${r.body}`);
  for (const h of hidden) t.false(r.body.includes(h), `body reveals ${h}`);
}
