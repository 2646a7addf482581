/**
 * The config model: the single source of truth (contract "Config"). TypeScript types come
 * from these schemas (Static), `gatehouse validate`, the admin API and docs/config.md all
 * read them. Every object is closed (additionalProperties: false) so a typo is an error,
 * not a silently ignored key. `x-message` gives a pattern its human error text.
 */
import Type, { type Static } from 'typebox';
import { DURATION_PATTERN, SIZE_PATTERN } from './duration.ts';

const closed = { additionalProperties: false } as const;
export const Duration = Type.String({ pattern: DURATION_PATTERN, 'x-message': 'must be a duration like 250ms, 5s, 1m or 2h' });
export const Size = Type.Union([Type.Integer({ minimum: 0 }), Type.String({ pattern: SIZE_PATTERN, 'x-message': 'must be a size like 1048576, 64kb or 1mb' })]);
const Name = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$', 'x-message': 'must be a name of letters, digits, . _ - (at most 128)' });
const Path = Type.String({ pattern: '^/', 'x-message': 'must start with /', maxLength: 2048 });
const Method = Type.String({ pattern: '^[A-Z]{1,16}$', 'x-message': 'must be an upper-case HTTP method' });
const HostPort = Type.String({ pattern: '^(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9.-]+):[0-9]{1,5}$', 'x-message': 'must be host:port' });
const Cidr = Type.String({ minLength: 2, maxLength: 64, description: 'IPv4 or IPv6 address or CIDR' });

export const AccessLog = Type.Object({
  enabled: Type.Optional(Type.Boolean({ default: true, description: 'write one JSON line per request' })),
  sample: Type.Optional(Type.Number({ minimum: 0, maximum: 1, default: 1, description: 'share of successful requests logged; errors (status >= 500) are always logged' })),
}, closed);

export const NodeSettings = Type.Object({
  listen: Type.Optional(HostPort),
  status: Type.Optional(HostPort),
  workers: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 256 }), Type.Literal('auto')])),
  trustedProxies: Type.Optional(Type.Array(Cidr, { description: 'CIDRs whose X-Forwarded-For is believed' })),
  drainTimeout: Type.Optional(Duration),
  limits: Type.Optional(Type.Object({
    maxHeaderSize: Type.Optional(Type.Integer({ minimum: 1024, maximum: 1048576, description: 'bytes of request line + headers; over it: 431' })),
    maxBodySize: Type.Optional(Size),
    requestTimeout: Type.Optional(Duration),
    headersTimeout: Type.Optional(Duration),
    keepAliveTimeout: Type.Optional(Duration),
    maxRequestsPerSocket: Type.Optional(Type.Integer({ minimum: 0 })),
  }, closed)),
  log: Type.Optional(Type.Object({
    level: Type.Optional(Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)))),
    access: Type.Optional(AccessLog),
  }, closed)),
  cluster: Type.Optional(Type.Object({
    id: Type.Optional(Name),
    etcd: Type.Object({ endpoints: Type.Array(Type.String(), { minItems: 1 }), prefix: Type.Optional(Path) }, closed),
    nats: Type.Optional(Type.Object({ servers: Type.Array(Type.String(), { minItems: 1 }) }, closed)),
    snapshot: Type.Optional(Type.String()),
  }, closed)),
}, closed);

export const Target = Type.Object({
  url: Type.String({ pattern: '^https?://[^/?#]+/?$', 'x-message': 'must be http(s)://host:port with no path' }),
  weight: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000, default: 1 })),
}, closed);

export const Upstream = Type.Object({
  targets: Type.Optional(Type.Array(Target)),
  discovery: Type.Optional(Type.Union([
    Type.Object({ service: Name }, closed),
    Type.Object({ dns: Type.String(), port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })), scheme: Type.Optional(Type.Union([Type.Literal('http'), Type.Literal('https')])) }, closed),
  ])),
  balance: Type.Optional(Type.Union([Type.Literal('round-robin'), Type.Literal('least-request'), Type.Literal('consistent-hash')])),
  hashOn: Type.Optional(Type.String({ pattern: '^(ip|consumer|path|header:[A-Za-z0-9-]+)$', 'x-message': 'must be ip, consumer, path or header:NAME' })),
  hostHeader: Type.Optional(Type.Union([Type.Literal('preserve'), Type.Literal('upstream')], { description: 'send the client Host (preserve) or the target host (upstream, default)' })),
  connections: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, description: 'keep-alive connections per target' })),
  timeouts: Type.Optional(Type.Object({ connect: Type.Optional(Duration), response: Type.Optional(Duration), idle: Type.Optional(Duration) }, closed)),
  retries: Type.Optional(Type.Object({}, { additionalProperties: true })),
  circuitBreaker: Type.Optional(Type.Object({}, { additionalProperties: true })),
  healthCheck: Type.Optional(Type.Object({}, { additionalProperties: true })),
}, closed);

export const Consumer = Type.Object({
  groups: Type.Optional(Type.Array(Name)),
  keys: Type.Optional(Type.Array(Type.String({ pattern: '^sha256:[0-9a-f]{64}$', 'x-message': 'must be sha256:<64 hex digits> (the digest, never the key)' }))),
  passwords: Type.Optional(Type.Array(Type.String({ pattern: '^scrypt:', 'x-message': 'must be a scrypt: hash (see gatehouse hash-password)' }))),
  jwtSubjects: Type.Optional(Type.Array(Type.String())),
  metadata: Type.Optional(Type.Record(Type.String(), Type.String())),
}, closed);

export const RouteMatch = Type.Object({
  hosts: Type.Optional(Type.Array(Type.String({ pattern: '^(\\*\\.)?[A-Za-z0-9.-]+$', 'x-message': 'must be a host name or *.wildcard' }))),
  paths: Type.Array(Path, { minItems: 1 }),
  methods: Type.Optional(Type.Array(Method)),
  headers: Type.Optional(Type.Record(Type.String(), Type.String())),
}, closed);

export const Route = Type.Object({
  match: RouteMatch,
  priority: Type.Optional(Type.Integer({ default: 0 })),
  upstream: Type.Optional(Name),
  rewrite: Type.Optional(Type.Object({
    stripPrefix: Type.Optional(Path),
    path: Type.Optional(Type.String({ pattern: '^/', 'x-message': 'must start with / (may use :param from the match)' })),
  }, closed)),
  policies: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'policy name -> its config; see docs/policies/' })),
}, closed);

export const GatewayConfig = Type.Object({
  node: Type.Optional(NodeSettings),
  // Closed maps: a name that breaks the Name pattern is reported, in file and etcd mode alike.
  upstreams: Type.Optional(Type.Record(Name, Upstream, closed)),
  consumers: Type.Optional(Type.Record(Name, Consumer, closed)),
  routes: Type.Optional(Type.Record(Name, Route, closed)),
}, closed);

export type GatewayConfig = Static<typeof GatewayConfig>;
export type NodeSettings = Static<typeof NodeSettings>;
export type Upstream = Static<typeof Upstream>;
export type Consumer = Static<typeof Consumer>;
export type Route = Static<typeof Route>;
export type RouteMatch = Static<typeof RouteMatch>;
