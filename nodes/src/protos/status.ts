/**
 * gRPC status codes: names, the HTTP status each maps to (google/rpc/code.proto's table,
 * as Envoy's transcoder and grpc-gateway use it), and the problem+json body a transcoded
 * failure becomes, with google.rpc.Status details decoded from grpc-status-details-bin.
 */
import type protobuf from 'protobufjs';
import { PROBLEM_TYPE_BASE, errors } from '../errors.ts';
import { messageToJson, type PrintOptions } from './json.ts';

export const CODE_NAMES = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS',
  'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL',
  'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'] as const;

const HTTP = [200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401];

/** gRPC status codes by name (grpc/doc/statuscodes.md). */
export const Code = { OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, ALREADY_EXISTS: 6, PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9, ABORTED: 10, OUT_OF_RANGE: 11, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14, DATA_LOSS: 15, UNAUTHENTICATED: 16 } as const;

export function httpStatusOf(code: number): number {
  return HTTP[code] ?? 500;
}

/** `google.rpc.Status` from a grpc-status-details-bin value, as JSON details; [] when absent or undecodable. */
export function decodeDetails(bin: Buffer | undefined, root: protobuf.Root, o: PrintOptions): unknown[] {
  if (!bin || !bin.length) return [];
  try {
    const t = root.lookupType('google.rpc.Status');
    const s = messageToJson(t, t.decode(bin) as unknown as Record<string, unknown>, o, root) as { details?: unknown[] };
    return s.details ?? [];
  } catch {
    return [];
  }
}

/** The problem+json body of a gRPC failure the upstream reported (code GW_GRPC_STATUS). */
export function grpcProblem(code: number, message: string, details: unknown[], requestId: string): string {
  const status = httpStatusOf(code);
  const name = CODE_NAMES[code] ?? 'UNKNOWN';
  const body: Record<string, unknown> = {
    type: PROBLEM_TYPE_BASE + 'GW_GRPC_STATUS',
    title: errors.GW_GRPC_STATUS.title,
    status,
    detail: message || name,
    code: 'GW_GRPC_STATUS',
    requestId,
    'grpc-status': code,
    'grpc-code': name,
    'grpc-message': message,
  };
  if (details.length) body.details = details;
  return JSON.stringify(body);
}
