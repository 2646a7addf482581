/**
 * Config model of the protocol listeners (contract "Protocols"): `node.http2` and
 * `node.tls`. Kept apart from model.ts so the protocol settings read as one unit; model.ts
 * only plugs them into NodeSettings.
 */
import Type, { type Static } from 'typebox';
import { DURATION_PATTERN } from './duration.ts';

const closed = { additionalProperties: false } as const;
const HostPort = Type.String({ pattern: '^(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9.-]+):[0-9]{1,5}$', 'x-message': 'must be host:port' });
const File = Type.String({ minLength: 1, description: 'PEM file; relative to the config file' });
const dur = (o: { description?: string; default?: string }) => Type.String({ pattern: DURATION_PATTERN, 'x-message': 'must be a duration like 250ms, 5s, 1m or 2h', ...o });

export const Http2Settings = Type.Object({
  cleartext: Type.Optional(Type.Boolean({ default: false, description: 'also accept h2c with prior knowledge on node.listen (the connection preface is detected per connection)' })),
  maxConcurrentStreams: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, default: 100, description: 'streams one HTTP/2 connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS)' })),
  maxHeaderListSize: Type.Optional(Type.Integer({ minimum: 1024, maximum: 1048576, description: 'bytes of one header list (SETTINGS_MAX_HEADER_LIST_SIZE); default node.limits.maxHeaderSize' })),
  maxResetsPerSecond: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000, default: 100, description: 'streams a client may reset per second (averaged over 10 s, bursts of 10x allowed) before its connection is closed with GOAWAY (rapid reset, CVE-2023-44487)' })),
  streamIdleTimeout: Type.Optional(dur({ default: '30s', description: 'a stream with no frames either way for this long is reset (window exhaustion, slow readers)' })),
  sessionIdleTimeout: Type.Optional(dur({ default: '2m', description: 'an HTTP/2 connection with no frames for this long is closed' })),
}, { ...closed, description: 'HTTP/2 downstream (docs/http2.md)' });

export const TlsSettings = Type.Object({
  listen: HostPort,
  certificates: Type.Array(Type.Object({ cert: File, key: File }, closed), { minItems: 1, description: 'chosen by SNI from each certificate\'s names (SAN, else CN); the first is the default' }),
  minVersion: Type.Optional(Type.Union([Type.Literal('TLSv1.2'), Type.Literal('TLSv1.3')], { default: 'TLSv1.2' })),
  clientCa: Type.Optional(Type.String({ minLength: 1, description: 'PEM of the CAs that sign client certificates: turns on mTLS' })),
  clientAuth: Type.Optional(Type.Union([Type.Literal('handshake'), Type.Literal('http'), Type.Literal('optional')], { default: 'handshake', description: 'with clientCa: handshake = a missing or bad client certificate fails the TLS handshake; http = the request gets 401; optional = no certificate is fine, a verified one is passed on' })),
  watch: Type.Optional(dur({ default: '2s', description: 'how often certificate files are checked for changes (reloaded without a restart)' })),
}, { ...closed, description: 'TLS termination (docs/tls.md)' });

export const WebSocketSettings = Type.Object({
  maxConnections: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000000, default: 10000, description: 'open WebSocket tunnels per process; upgrades past it get 503' })),
  idleTimeout: Type.Optional(dur({ default: '5m', description: 'a tunnel with no bytes either way for this long is closed' })),
}, { ...closed, description: 'WebSocket tunnels on routes with websocket: true (docs/websocket.md)' });

export const UpstreamTls = Type.Object({
  ca: Type.Optional(Type.String({ minLength: 1, description: 'PEM file of CAs trusted for this upstream, in addition to the system ones; relative to the config file' })),
  serverName: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9.-]{1,253}$', 'x-message': 'must be a host name', description: 'name sent as SNI and checked in the certificate; default the target host' })),
}, { ...closed, description: 'for https:// and h2:// targets; the certificate is always verified (docs/tls.md)' });

export const UpstreamHttp2 = Type.Object({
  sessions: Type.Optional(Type.Integer({ minimum: 1, maximum: 64, default: 4, description: 'most HTTP/2 sessions (connections) per h2c:// or h2:// target; more than one opens only under load (streamsPerSession)' })),
  streamsPerSession: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, description: 'a further session opens when every open one carries at least this many streams (set it low, e.g. 8, for a server that serves each connection slowly); streams go to the least-loaded session, each session still capped by connections; default: only when every open session is at its stream cap' })),
  idleTimeout: Type.Optional(dur({ default: '30s', description: 'an extra session with no stream for this long is closed (one session always stays)' })),
}, { ...closed, description: 'sessions to h2c:// and h2:// targets (docs/upstreams.md#http2-sessions)' });

export type UpstreamHttp2 = Static<typeof UpstreamHttp2>;
export type UpstreamTls = Static<typeof UpstreamTls>;
export type WebSocketSettings = Static<typeof WebSocketSettings>;
export type Http2Settings = Static<typeof Http2Settings>;
export type TlsSettings = Static<typeof TlsSettings>;
