/**
 * Per-request state. One plain class (stable shape, no per-request closures) so the hot
 * path stays monomorphic. Fields that cost something to compute (client IP, parsed query)
 * are computed on first use only.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { clientAddress } from '../http/client-ip.ts';
import type { TrustedProxies } from '../http/client-ip.ts';
import type { CompiledRoute } from './compile.ts';

export interface ConsumerIdentity {
  name: string;
  groups: readonly string[];
  /** How the consumer authenticated: key-auth, basic-auth, jwt-auth, anonymous. */
  method?: string;
  subject?: string;
  scopes?: readonly string[];
  claims?: Record<string, unknown>;
}

export class RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly id: string;
  readonly start: number;
  readonly method: string;
  /** Lower-case host without port. */
  readonly host: string;
  /**
   * The authority the request was routed by, as received (with port): the absolute-form
   * target's when present (RFC 9112 §3.2.2), else the Host header. Forwarded as Host when
   * preserved and as X-Forwarded-Host, so the upstream sees what was routed.
   */
  authority = '';
  /** The normalised path: routed, authorised and forwarded (contract "Security"). */
  path: string;
  /** Raw query string without '?', forwarded as received unless a policy changes it. */
  rawQuery: string;
  route: CompiledRoute | undefined = undefined;
  params: Record<string, string> | undefined = undefined;
  consumer: ConsumerIdentity | undefined = undefined;
  /** Headers the gateway sets on the upstream request; they win over client headers. */
  upstreamHeaders: Record<string, string> | undefined = undefined;
  /** Client request headers to drop before forwarding (lower-case names). */
  dropHeaders: Set<string> | undefined = undefined;
  /** Headers added to the client response. */
  responseHeaders: Record<string, string | string[]> | undefined = undefined;
  /** A buffered request body (set by readBody or a policy); forwarded instead of the stream. */
  body: Buffer | undefined = undefined;
  /** Set by a policy (traffic split) to send this request to another upstream than the route's. */
  upstream: import('../upstream/upstream.ts').UpstreamRuntime | undefined = undefined;
  /** Set by a policy (cache) to observe the upstream response as it streams. */
  tap: import('./types.ts').ResponseTap | undefined = undefined;
  /** Policy-private state, keyed by policy name. */
  state: Record<string, unknown> | undefined = undefined;
  status = 0;
  upstreamStart = 0;
  upstreamEnd = 0;
  target: string | undefined = undefined;
  errorCode: string | undefined = undefined;
  /** Set once finish() ran: metrics and logs are written exactly once. */
  done = false;
  private readonly trusted: TrustedProxies;
  private ip: string | undefined = undefined;
  private query: URLSearchParams | undefined = undefined;

  constructor(req: IncomingMessage, res: ServerResponse, id: string, host: string, path: string, rawQuery: string, trusted: TrustedProxies) {
    this.req = req;
    this.res = res;
    this.id = id;
    this.start = performance.now();
    this.method = req.method!;
    this.host = host;
    this.path = path;
    this.rawQuery = rawQuery;
    this.trusted = trusted;
  }

  /** The client's address: the socket's, or from X-Forwarded-For through trusted proxies only. */
  get clientIp(): string {
    return (this.ip ??= clientAddress(this.req, this.trusted));
  }

  get searchParams(): URLSearchParams {
    return (this.query ??= new URLSearchParams(this.rawQuery));
  }

  setUpstreamHeader(name: string, value: string): void {
    (this.upstreamHeaders ??= {})[name.toLowerCase()] = value;
  }

  dropUpstreamHeader(name: string): void {
    (this.dropHeaders ??= new Set()).add(name.toLowerCase());
  }

  setResponseHeader(name: string, value: string | string[]): void {
    (this.responseHeaders ??= {})[name.toLowerCase()] = value;
  }
}
