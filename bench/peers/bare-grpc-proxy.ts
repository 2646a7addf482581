/**
 * The least a Node gRPC pass-through can do, for bench/h2-profile.ts's `PROXY=bare`: HTTP/2
 * in, one HTTP/2 session out, frames and trailers forwarded, nothing else (no routing, no
 * policies, no logs, no retries, no limits). It is the ceiling of a proxy built on Node's
 * `http2` module in the protocol rows' layout, not a peer to compare features with.
 *
 *   bare-grpc-proxy.ts LISTEN_PORT UPSTREAM_PORT
 */
import http2 from 'node:http2';
import type { IncomingHttpHeaders, ServerHttp2Stream, ClientHttp2Stream } from 'node:http2';

const [listen, upstream] = process.argv.slice(2).map(Number) as [number, number];
// One session, opened on the first call (the echo may still be starting) and again after it failed.
let session: http2.ClientHttp2Session | undefined;
function upstreamSession(): http2.ClientHttp2Session {
  if (session === undefined || session.destroyed || session.closed) {
    const s = http2.connect(`http://127.0.0.1:${upstream}`);
    s.on('error', () => { if (session === s) session = undefined; });
    session = s;
  }
  return session;
}

type Down = ServerHttp2Stream & { up?: ClientHttp2Stream; trailers?: IncomingHttpHeaders };
type Up = ClientHttp2Stream & { down?: Down };

function onResponse(this: Up, h: IncomingHttpHeaders): void { const d = this.down; if (d && !d.destroyed) d.respond(h, { waitForTrailers: true }); }
function onUpTrailers(this: Up, t: IncomingHttpHeaders): void { if (this.down) this.down.trailers = t; }
function onUpData(this: Up, c: Buffer): void { const d = this.down; if (d && !d.destroyed) d.write(c); }
function onUpEnd(this: Up): void { const d = this.down; if (d && !d.destroyed) d.end(); }
function onUpClose(this: Up): void { const d = this.down; this.down = undefined; if (d && !d.destroyed && !d.writableEnded) d.close(http2.constants.NGHTTP2_CANCEL); }
function onWantTrailers(this: Down): void { const t = this.trailers ?? {}; this.trailers = undefined; this.sendTrailers(t as never); }
function onDownData(this: Down, c: Buffer): void { this.up?.write(c); }
function onDownEnd(this: Down): void { this.up?.end(); }
function onDownClose(this: Down): void { const u = this.up; this.up = undefined; if (u && !u.destroyed) u.close(http2.constants.NGHTTP2_CANCEL); }
function ignore(): void { /* 'close' follows */ }

const server = http2.createServer();
server.on('stream', (stream: Down, headers: IncomingHttpHeaders) => {
  const up: Up = upstreamSession().request([':method', 'POST', ':path', headers[':path'] as string, ':scheme', 'http', ':authority', `127.0.0.1:${upstream}`, 'content-type', (headers['content-type'] as string | undefined) ?? 'application/grpc', 'te', 'trailers'] as never, { endStream: false });
  up.down = stream;
  stream.up = up;
  stream.on('data', onDownData).on('end', onDownEnd).on('close', onDownClose).on('error', ignore).on('wantTrailers', onWantTrailers);
  up.on('response', onResponse).on('trailers', onUpTrailers).on('data', onUpData).on('end', onUpEnd).on('close', onUpClose).on('error', ignore);
});
server.listen(listen, '127.0.0.1');
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => process.exit(0));
