/**
 * Request bodies: read up to a limit, then parsed as YAML 1.2 (JSON is YAML, so either
 * works, whatever the Content-Type) with duplicate keys rejected: a silently dropped
 * duplicate is a config bug. Alias expansion is capped (the "billion laughs" document).
 */
import type { IncomingMessage } from 'node:http';
import { isUtf8 } from 'node:buffer';
import YAML from 'yaml';
import { Problem } from './problem.ts';

export const DEFAULT_BODY_LIMIT = 4 * 1024 * 1024;

/** The raw body; a Problem (413) once it exceeds `limit` bytes. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    return Promise.reject(new Problem('GW_PAYLOAD_TOO_LARGE', `body larger than ${limit} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const fail = (p: Problem) => {
      if (done) return;
      done = true;
      req.removeAllListeners('data'); // the server decides whether to drain or close
      reject(p);
    };
    req.on('data', (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > limit) { fail(new Problem('GW_PAYLOAD_TOO_LARGE', `body larger than ${limit} bytes`)); return; }
      chunks.push(c);
    });
    req.on('end', () => { if (!done) { done = true; resolve(Buffer.concat(chunks)); } });
    req.on('error', () => fail(new Problem('GW_BAD_REQUEST', 'request body could not be read')));
    req.on('aborted', () => fail(new Problem('GW_BAD_REQUEST', 'request body was cut short')));
  });
}

/** YAML or JSON text to a value; a Problem (400) naming the first few parse errors. */
export function parseBody(buf: Buffer): unknown {
  const text = buf.toString('utf8');
  if (!text.trim()) throw new Problem('GW_BAD_REQUEST', 'empty body: send a JSON or YAML document');
  if (!isUtf8(buf)) throw new Problem('GW_BAD_REQUEST', 'body is not UTF-8');
  let doc: YAML.Document.Parsed;
  try {
    doc = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: true, strict: true });
  } catch {
    throw new Problem('GW_BAD_REQUEST', 'body is not valid JSON or YAML');
  }
  if (doc.errors.length) {
    const msgs = doc.errors.slice(0, 5).map((e) => (e.message.split('\n')[0] ?? 'parse error'));
    throw new Problem('GW_BAD_REQUEST', `body is not valid JSON or YAML: ${msgs.join('; ')}`);
  }
  try {
    return doc.toJS({ maxAliasCount: 100 }) as unknown;
  } catch {
    throw new Problem('GW_BAD_REQUEST', 'body is not valid YAML: too many alias expansions');
  }
}
