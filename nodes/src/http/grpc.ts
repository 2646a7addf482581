/**
 * gRPC requests (content-type application/grpc*) get the gateway's own errors as gRPC
 * statuses in a trailers-only response (HTTP 200, grpc-status and grpc-message in the one
 * header block), never problem+json: a gRPC client cannot read a JSON body.
 */
import type { IncomingHttpHeaders } from 'node:http';

export function isGrpc(headers: IncomingHttpHeaders): boolean {
  const ct = headers['content-type'];
  return ct !== undefined && ct.length >= 16 && ct.startsWith('application/grpc');
}

/** The gateway's HTTP status → gRPC status code (docs/grpc.md). */
export function grpcStatusOf(http: number): number {
  switch (http) {
    case 400: return 3; // INVALID_ARGUMENT (validation)
    case 401: return 16; // UNAUTHENTICATED
    case 403: return 7; // PERMISSION_DENIED
    case 404: return 12; // UNIMPLEMENTED
    case 408: return 4; // DEADLINE_EXCEEDED
    case 413: case 429: case 431: return 8; // RESOURCE_EXHAUSTED
    case 502: case 503: return 14; // UNAVAILABLE
    case 504: return 4; // DEADLINE_EXCEEDED
    case 500: return 13; // INTERNAL
    default: return 2; // UNKNOWN
  }
}

/** grpc-message is percent-encoded (gRPC over HTTP/2 spec). */
export function grpcMessage(s: string): string {
  return encodeURIComponent(s).replace(/%20/g, ' ');
}

/** Headers of a trailers-only gRPC error response (HTTP 200). */
export function grpcErrorHeaders(httpStatus: number, message: string): Record<string, string> {
  return { 'content-type': 'application/grpc', 'grpc-status': String(grpcStatusOf(httpStatus)), 'grpc-message': grpcMessage(message) };
}
