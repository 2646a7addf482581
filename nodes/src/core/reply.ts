/**
 * What a request hook or the upstream answers with, as plain data: the gateway's own reply
 * (LocalReply), the response head response hooks may edit, and the tap that observes a
 * proxied response. Types only, no imports but the error catalogue: every layer may use them.
 */
import type { ErrorCode } from '../errors.ts';

export interface LocalReply {
  /** A GW_* code: the body becomes problem+json with that code's status. */
  code?: ErrorCode;
  /** Client-safe detail; never internal error text. */
  detail?: string;
  /** Extra documented members of the problem body, e.g. `errors` for validation. */
  extra?: Record<string, unknown>;
  /** For replies that are not errors (cache hit, CORS preflight): status and body as given. */
  status?: number;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
  /**
   * A body made over time (a server-streamed gRPC answer as NDJSON, SSE or gRPC-Web frames):
   * the head goes out at once, then the stream is piped; the request finishes when it ends.
   * The policy still never writes to the socket: it writes to this stream, and sees the
   * client leave as the stream being destroyed (docs/decisions/0007-streamed-local-replies.md).
   */
  stream?: import('node:stream').Readable;
  /**
   * The upstream's answer in another form, not the gateway's own (grpc-transcode's
   * successful unary call, grpc-status 0): response hooks see `head.translated`, and a
   * response tap (the cache's fill) gets its body, so it is stored like a proxied response.
   */
  translated?: boolean;
}

export type HookResult = LocalReply | undefined | void;

/** The response head as it goes to the client; response hooks may edit `headers` in place. */
export interface ResponseHead {
  status: number;
  headers: Record<string, string | string[]>;
  /** True when the gateway made the response itself (LocalReply), false for an upstream's. */
  local: boolean;
  /** A local reply marked `translated`: it stands for the upstream's answer (the cache stores it). */
  translated?: boolean;
}

/**
 * Observes an upstream response as it streams to the client (the cache fills itself this
 * way). Called after response hooks, with the head as sent; never delays the client.
 */
export interface ResponseTap {
  head(status: number, headers: Record<string, string | string[]>): void;
  data(chunk: Buffer): void;
  end(): void;
  /** The response failed or the client went away: discard what was collected. */
  abort(): void;
}
