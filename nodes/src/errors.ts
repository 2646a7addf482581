/**
 * The one catalogue of responses the gateway makes itself (contract: "Responses the
 * gateway makes itself"). Each code has a fixed status and a fixed client-facing title;
 * `detail` passed at reply time must never carry internal text (error messages, stacks,
 * upstream addresses). A test checks that every code here is documented in docs/errors.md.
 */
export const errors = {
  GW_ROUTE_NOT_FOUND: { status: 404, title: 'No route matches this request' },
  GW_METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed on this route' },
  GW_BAD_REQUEST: { status: 400, title: 'Malformed request' },
  GW_BAD_PATH: { status: 400, title: 'Request path is not allowed' },
  GW_VALIDATION_FAILED: { status: 400, title: 'Request validation failed' },
  GW_UNAUTHORIZED: { status: 401, title: 'Authentication required' },
  GW_FORBIDDEN: { status: 403, title: 'Access denied' },
  GW_REQUEST_TIMEOUT: { status: 408, title: 'Request timed out' },
  GW_PAYLOAD_TOO_LARGE: { status: 413, title: 'Request body too large' },
  GW_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported media type' },
  GW_RATE_LIMITED: { status: 429, title: 'Too many requests' },
  GW_HEADERS_TOO_LARGE: { status: 431, title: 'Request header fields too large' },
  /** Transcoded gRPC error: the reply's status comes from the gRPC code (protos/status.ts); 500 is UNKNOWN's. */
  GW_GRPC_STATUS: { status: 500, title: 'The gRPC upstream returned an error' },
  GW_INTERNAL: { status: 500, title: 'Internal gateway error' },
  GW_NOT_IMPLEMENTED: { status: 501, title: 'Not implemented' },
  GW_UPSTREAM_UNAVAILABLE: { status: 502, title: 'Upstream unavailable' },
  GW_UPSTREAM_BAD_RESPONSE: { status: 502, title: 'Upstream sent an invalid response' },
  GW_NO_HEALTHY_UPSTREAM: { status: 503, title: 'No healthy upstream target' },
  GW_CIRCUIT_OPEN: { status: 503, title: 'Upstream circuit open' },
  GW_UPSTREAM_OVERLOADED: { status: 503, title: 'Upstream is overloaded' },
  GW_SHUTTING_DOWN: { status: 503, title: 'Gateway is shutting down' },
  GW_UPSTREAM_TIMEOUT: { status: 504, title: 'Upstream timed out' },
  GW_NOT_CACHED: { status: 504, title: 'Not in cache' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof errors;

/**
 * The control plane's answers (admin API, gatewayctl), in the same catalogue so one page
 * (docs/errors.md) documents both and a code means the same thing on either side; titles
 * say what the admin API was asked (a config, not a request).
 */
export const controlErrors = {
  GW_BAD_REQUEST: { status: 400, title: 'Malformed request' },
  GW_VALIDATION_FAILED: { status: 400, title: 'Config validation failed' },
  GW_UNAUTHORIZED: { status: 401, title: 'Authentication required' },
  GW_FORBIDDEN: { status: 403, title: 'Not allowed for this token' },
  GW_NOT_FOUND: { status: 404, title: 'Not found' },
  GW_METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  GW_CONFLICT: { status: 409, title: 'Config changed concurrently' },
  GW_IN_USE: { status: 409, title: 'Still referenced' },
  GW_PRECONDITION_FAILED: { status: 412, title: 'Precondition failed' },
  GW_PAYLOAD_TOO_LARGE: { status: 413, title: 'Request body too large' },
  GW_INTERNAL: { status: 500, title: 'Internal error' },
  GW_STORE_UNAVAILABLE: { status: 503, title: 'Config store unavailable' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ControlErrorCode = keyof typeof controlErrors;

export const PROBLEM_TYPE_BASE = 'https://gatehouse.dev/errors/';

/** Serialise a problem+json body (RFC 9457). `extra` holds documented members only (e.g. `errors`). */
export function problemBody(code: ErrorCode, requestId: string, detail?: string, extra?: Record<string, unknown>): string {
  const e = errors[code];
  const body: Record<string, unknown> = {
    type: PROBLEM_TYPE_BASE + code,
    title: e.title,
    status: e.status,
    detail: detail ?? e.title,
    code,
    requestId,
  };
  if (extra) Object.assign(body, extra);
  return JSON.stringify(body);
}
