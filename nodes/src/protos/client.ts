/**
 * What the conversion policies (grpc-transcode, grpc-web) share about gRPC metadata and
 * deadlines. Their calls go over the gateway's own HTTP/2 client (upstream/h2/grpc-call.ts,
 * decision 0014).
 */

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
