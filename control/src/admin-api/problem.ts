/**
 * The admin API's responses in the gateway's problem+json shape (RFC 9457, contract
 * "Responses the gateway makes itself"): {type, title, status, detail, code, requestId}.
 * Codes and titles come from the one catalogue (nodes/src/errors.ts, `controlErrors`);
 * `detail` never carries internal error text (an etcd or Node error message stays in the
 * server log).
 */
// The gateway's problem type base, so one page (docs/errors.md) documents both catalogues.
import { PROBLEM_TYPE_BASE, controlErrors as adminErrors } from '@gatehouse/node/errors';
import type { ServerResponse } from 'node:http';

export { adminErrors };

export type AdminErrorCode = keyof typeof adminErrors;

/** A problem to answer with; thrown by handlers, turned into a response by the server. */
export class Problem extends Error {
  readonly code: AdminErrorCode;
  readonly detail: string | undefined;
  readonly extra: Record<string, unknown> | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(code: AdminErrorCode, detail?: string, extra?: Record<string, unknown>, headers?: Record<string, string>) {
    super(detail ?? adminErrors[code].title);
    this.code = code;
    this.detail = detail;
    this.extra = extra;
    this.headers = headers;
  }
}

export function problemJson(p: Problem, requestId: string): { status: number; body: string } {
  const e = adminErrors[p.code];
  const body: Record<string, unknown> = {
    type: PROBLEM_TYPE_BASE + p.code,
    title: e.title,
    status: e.status,
    detail: p.detail ?? e.title,
    code: p.code,
    requestId,
    ...p.extra,
  };
  return { status: e.status, body: JSON.stringify(body) };
}

export function sendProblem(res: ServerResponse, p: Problem, requestId: string, close = false): void {
  const { status, body } = problemJson(p, requestId);
  const headers: Record<string, string> = {
    'content-type': 'application/problem+json',
    'content-length': String(Buffer.byteLength(body)),
    'cache-control': 'no-store',
    ...p.headers,
  };
  // A request answered before its body was read: close rather than read the rest.
  if (close) headers.connection = 'close';
  res.writeHead(status, headers);
  res.end(body);
}

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(body);
}
