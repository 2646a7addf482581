/**
 * The one place that touches Node's native HTTP parser (llhttp, the parser behind
 * `node:http`), reached through the `_http_common` module. It is not a documented API, so
 * its shape is checked once at load: a Node whose parser does not look as expected fails
 * at start with a clear message, never at the first request (decision 0005).
 *
 * Strict mode only (no leniency flags): the same rules the gateway's own server applies
 * to clients apply to upstream responses (invalid header tokens, Content-Length together
 * with Transfer-Encoding, bad chunk sizes are parse errors).
 */
import { createRequire } from 'node:module';

/** Callback slots of a native parser (indices into the parser object). */
export const ON_MESSAGE_BEGIN = 0;
export const ON_HEADERS = 1;
export const ON_HEADERS_COMPLETE = 2;
export const ON_BODY = 3;
export const ON_MESSAGE_COMPLETE = 4;
export const ON_EXECUTE = 5;
export const ON_TIMEOUT = 6;

export interface ParseError extends Error { code: string; reason?: string; bytesParsed?: number }

/** The native parser as this module uses it. */
export interface NativeParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | ParseError;
  finish(): ParseError | undefined;
  close(): void;
  /** Read straight from a socket handle in C++ (as node:http's server does); results reach ON_EXECUTE. */
  consume(handle: object): void;
  unconsume(): void;
  [slot: number]: unknown;
}

interface ParserClass { new (): NativeParser; RESPONSE: number; kOnMessageBegin: number; kOnHeaders: number; kOnHeadersComplete: number; kOnBody: number; kOnMessageComplete: number; kOnExecute: number; kOnTimeout: number; kLenientNone: number }

function load(): ParserClass {
  const why = 'Gatehouse needs the native HTTP parser of Node 24 (node:_http_common HTTPParser)';
  let P: ParserClass | undefined;
  try {
    P = (createRequire(import.meta.url)('_http_common') as { HTTPParser?: ParserClass }).HTTPParser;
  } catch (err) {
    throw new Error(`${why}: ${(err as Error).message}`, { cause: err });
  }
  const slots: Array<[keyof ParserClass, number]> = [['kOnMessageBegin', ON_MESSAGE_BEGIN], ['kOnHeaders', ON_HEADERS], ['kOnHeadersComplete', ON_HEADERS_COMPLETE], ['kOnBody', ON_BODY], ['kOnMessageComplete', ON_MESSAGE_COMPLETE], ['kOnExecute', ON_EXECUTE], ['kOnTimeout', ON_TIMEOUT]];
  if (typeof P !== 'function' || typeof P.RESPONSE !== 'number' || P.kLenientNone !== 0 || slots.some(([k, v]) => P[k] !== v)) {
    throw new Error(`${why}; this Node (${process.version}) has a different one`);
  }
  for (const m of ['initialize', 'execute', 'finish', 'close', 'consume', 'unconsume'] as const) {
    if (typeof (P.prototype as unknown as Record<string, unknown>)[m] !== 'function') throw new Error(`${why}; HTTPParser.${m} is missing on ${process.version}`);
  }
  return P;
}

/** Loaded on first use, so the undici client (client-choice.ts) runs on a Node without it. */
let Parser: ParserClass | undefined;

/** Throws, naming the problem, if this Node's native parser is missing or shaped differently. */
export function checkNativeParser(): void {
  Parser ??= load();
}

const RESOURCE = Object.freeze({ type: 'gatehouse-upstream' });

/** The native handle of a plain TCP socket, when the parser can read from it directly. */
export interface StreamHandle { isStreamBase?: boolean; reading?: boolean; readStart(): number; readStop(): number }

export function consumableHandle(sock: object): StreamHandle | undefined {
  const h = (sock as { _handle?: StreamHandle | null })._handle;
  return h != null && h.isStreamBase === true && typeof h.readStart === 'function' && typeof h.readStop === 'function' ? h : undefined;
}

/** A response parser in strict mode; `maxHeaderSize` 0 means Node's default (16 KiB). */
export function responseParser(maxHeaderSize: number): NativeParser {
  const P = Parser ??= load();
  const p = new P();
  p.initialize(P.RESPONSE, RESOURCE, maxHeaderSize, Parser.kLenientNone);
  return p;
}
