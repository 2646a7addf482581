/**
 * The grpc-web policy's gRPC client: @grpc/grpc-js channels, one per upstream target,
 * carrying already-encoded messages (serialisers are the identity, so grpc-web passes
 * frames through untouched). grpc-transcode has moved to the gateway's own HTTP/2 client
 * (upstream/h2/grpc-call.ts); grpc-web is next. Targets are picked by the route's upstream (its
 * balancer, breakers and discovery); `http://` and `h2c://` targets are plaintext HTTP/2
 * (prior knowledge), `https://` and `h2://` use TLS.
 */
import type * as grpc from '@grpc/grpc-js';
import { createRequire } from 'node:module';

let loaded: typeof grpc | undefined;
/**
 * @grpc/grpc-js, loaded on first use: a node whose config has no gRPC route does not pay
 * for it at start-up (about half a second of module loading on a busy machine).
 */
export function grpcjs(): typeof grpc {
  return (loaded ??= createRequire(import.meta.url)('@grpc/grpc-js') as typeof grpc);
}

export const identity = (b: Buffer): Buffer => b;

export interface ChannelOptions {
  /** Largest message either way, bytes. */
  maxMessageSize: number;
}

export class GrpcChannels {
  private readonly clients = new Map<string, grpc.Client>();
  private readonly opts: ChannelOptions;
  constructor(opts: ChannelOptions) { this.opts = opts; }

  /** The client for a target URL (created on first use, kept until close()). */
  get(url: string): grpc.Client {
    let c = this.clients.get(url);
    if (c) return c;
    const u = new URL(url);
    const tls = u.protocol === 'https:' || u.protocol === 'h2:';
    const port = u.port || (tls ? '443' : '80');
    const g = grpcjs();
    c = new g.Client(`${u.hostname}:${port}`, tls ? g.credentials.createSsl() : g.credentials.createInsecure(), {
      'grpc.max_receive_message_length': this.opts.maxMessageSize,
      'grpc.max_send_message_length': this.opts.maxMessageSize,
      // Reconnect soon after an upstream restart instead of grpc's growing default backoff.
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 2000,
      'grpc.enable_retries': 0,
    });
    this.clients.set(url, c);
    return c;
  }

  /** Drop clients of targets no longer listed. */
  retain(urls: ReadonlySet<string>): void {
    for (const [u, c] of this.clients) if (!urls.has(u)) { c.close(); this.clients.delete(u); }
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

/** Request headers never copied into metadata: HTTP/1.1 framing and what gRPC itself sets. */
export const RESERVED_REQUEST = new Set(['host', 'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer',
  'content-length', 'content-type', 'accept', 'accept-encoding', 'user-agent', 'grpc-timeout', 'grpc-encoding', 'grpc-accept-encoding']);

/** Response metadata never turned into HTTP headers. */
export function reservedResponseKey(k: string): boolean {
  return k.startsWith('grpc-') || k === 'content-type' || k.endsWith('-bin') || k === 'te' || k === 'trailer' || k === 'connection' || k === 'transfer-encoding' || k === 'content-length';
}

/** Parse a grpc-timeout header value (gRPC over HTTP/2: 1-8 digits and a unit H M S m u n) in ms. */
export function parseGrpcTimeout(v: string | undefined): number | undefined {
  if (!v) return undefined;
  const m = /^([0-9]{1,8})([HMSmun])$/.exec(v);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2];
  return unit === 'H' ? n * 3600e3 : unit === 'M' ? n * 60e3 : unit === 'S' ? n * 1e3 : unit === 'm' ? n : unit === 'u' ? n / 1e3 : n / 1e6;
}
