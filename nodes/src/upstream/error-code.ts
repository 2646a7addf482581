/** The gateway's answer to a failed upstream exchange, by the error's code. */
import type { ErrorCode } from '../errors.ts';

/** Map a client/socket error (h1/errors.ts codes, parser HPE_* codes) to the gateway's code: slow is 504, refused/reset is 502. */
export function upstreamErrorCode(err: unknown): ErrorCode {
  const code = (err as { code?: string } | null)?.code;
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'ETIMEDOUT':
      return 'GW_UPSTREAM_TIMEOUT';
    case 'GH_QUEUE_FULL':
    case 'GH_QUEUE_TIMEOUT':
      return 'GW_UPSTREAM_OVERLOADED';
    case 'HPE_INVALID_CONSTANT':
    case 'HPE_INVALID_HEADER_TOKEN':
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
    case 'UND_ERR_INVALID_ARG':
      return 'GW_UPSTREAM_BAD_RESPONSE';
    default:
      // Any other parser verdict on the response: the upstream spoke broken HTTP.
      return typeof code === 'string' && code.startsWith('HPE_') ? 'GW_UPSTREAM_BAD_RESPONSE' : 'GW_UPSTREAM_UNAVAILABLE';
  }
}
