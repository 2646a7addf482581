/**
 * Errors of the upstream client. Their `code`s are the ones undici uses for the same
 * conditions, so the mapping to the gateway's catalogue (upstreamErrorCode, failureKind)
 * reads one vocabulary whichever client made the call.
 */
export type UpstreamErrorCode =
  | 'UND_ERR_CONNECT_TIMEOUT'
  | 'UND_ERR_HEADERS_TIMEOUT'
  | 'UND_ERR_BODY_TIMEOUT'
  | 'UND_ERR_SOCKET'
  | 'UND_ERR_ABORTED'
  | 'UND_ERR_CLOSED'
  | 'UND_ERR_INVALID_ARG'
  | 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH'
  /** The pool's wait queue is full (maxPending) or the wait passed maxWait: the gateway's GW_UPSTREAM_OVERLOADED. */
  | 'GH_QUEUE_FULL'
  | 'GH_QUEUE_TIMEOUT';

export class UpstreamError extends Error {
  readonly code: UpstreamErrorCode;
  constructor(code: UpstreamErrorCode, message: string) {
    super(message);
    this.name = 'UpstreamError';
    this.code = code;
  }
}

export const headersTimeout = (): UpstreamError => new UpstreamError('UND_ERR_HEADERS_TIMEOUT', 'upstream response head timed out');
export const bodyTimeout = (): UpstreamError => new UpstreamError('UND_ERR_BODY_TIMEOUT', 'upstream response body timed out');
export const connectTimeout = (): UpstreamError => new UpstreamError('UND_ERR_CONNECT_TIMEOUT', 'upstream connect timed out');
export const socketClosed = (): UpstreamError => new UpstreamError('UND_ERR_SOCKET', 'upstream closed the connection');
export const queueFull = (): UpstreamError => new UpstreamError('GH_QUEUE_FULL', 'upstream wait queue full');
export const queueTimeout = (): UpstreamError => new UpstreamError('GH_QUEUE_TIMEOUT', 'upstream wait queue deadline passed');
