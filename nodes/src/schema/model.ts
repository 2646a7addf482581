/**
 * The config model: the single source of truth (contract "Config"). TypeScript types come
 * from these schemas (Static), `gatehouse validate`, the admin API and docs/config.md all
 * read them. Every object is closed (additionalProperties: false) so a typo is an error,
 * not a silently ignored key. `x-message` gives a pattern its human error text.
 */
import Type, { type Static } from 'typebox';
import { DURATION_PATTERN, SIZE_PATTERN } from './duration.ts';
import { Http2Settings, TlsSettings, UpstreamHttp2, UpstreamTls, WebSocketSettings } from './protocols.ts';

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
  file: Type.Optional(Type.String({ minLength: 1, description: 'append to this file instead of stdout; reopened on SIGUSR2 (logrotate)' })),
  maxSize: Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.String({ pattern: SIZE_PATTERN, 'x-message': 'must be a size like 1048576, 64kb or 1mb' })], { description: 'with file: rotate it to <file>.1 past this size (e.g. 100mb); default never (use SIGUSR2 with logrotate)' })),
  redactQuery: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { description: 'query parameter names whose values are logged as [REDACTED] (case-insensitive); default api_key, apikey, api-key, key, token, access_token, id_token, refresh_token, auth, authorization, password, passwd, secret, client_secret, signature, sig, code' })),
}, closed);

export const NodeSettings = Type.Object({
  listen: Type.Optional(HostPort),
  status: Type.Optional(HostPort),
  workers: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 256 }), Type.Literal('auto')])),
  trustedProxies: Type.Optional(Type.Array(Cidr, { description: 'CIDRs whose X-Forwarded-For is believed' })),
  purgeToken: Type.Optional(Type.String({ pattern: '^sha256:[0-9a-f]{64}$', 'x-message': 'must be sha256:<64 hex digits> (the digest of the token, never the token)', description: 'lets any peer purge the cache on the status port with Authorization: Bearer <token> (compared as a digest in constant time); without it purges are accepted from loopback only. Use at least 32 random bytes (docs/policies/cache.md#purge)' })),
  readyWithoutRoutes: Type.Optional(Type.Boolean({ default: false, description: 'answer /readyz 200 while the config has no routes (false: a node that would answer every request with 404 stays out of its load balancer until it serves something)' })),
  trustRequestId: Type.Optional(Type.Boolean({ default: true, description: 'reuse a well-formed X-Request-Id from any client (true) or only from trustedProxies (false: other clients get a fresh id, so they cannot choose the id logs and upstreams correlate on)' })),
  drainTimeout: Type.Optional(Duration),
  upstreamClient: Type.Optional(Type.Union([Type.Literal('own'), Type.Literal('undici')], { default: 'own', description: 'HTTP/1.1 client of proxied requests, read at start: own (Gatehouse\'s, on Node\'s native parser) or undici (same behaviour, slower; for a Node without that parser); the GATEHOUSE_UPSTREAM_CLIENT environment variable overrides it (docs/upstreams.md#upstream-client)' })),
  paths: Type.Optional(Type.Object({
    allowSemicolon: Type.Optional(Type.Boolean({ default: false, description: 'keep a raw ; in a path segment (/admin;jsessionid=x) as an ordinary character; false: 400 GW_BAD_REQUEST, because servlet containers and routers with a semicolon delimiter strip ;params and would serve /admin for a path the route table read as another (docs/security.md)' })),
  }, closed)),
  limits: Type.Optional(Type.Object({
    maxHeaderSize: Type.Optional(Type.Integer({ minimum: 1024, maximum: 1048576, description: 'bytes of request line + headers; over it: 431' })),
    maxBodySize: Type.Optional(Size),
    requestTimeout: Type.Optional(Duration),
    headersTimeout: Type.Optional(Duration),
    keepAliveTimeout: Type.Optional(Duration),
    maxRequestsPerSocket: Type.Optional(Type.Integer({ minimum: 0 })),
    sendTimeout: Type.Optional(Type.String({ pattern: DURATION_PATTERN, 'x-message': 'must be a duration like 250ms, 5s, 1m or 2h', default: '60s', description: 'a client connection whose response bytes stop leaving for this long is closed (nginx send_timeout); frees the upstream connection behind it' })),
    proxyBuffer: Type.Optional({ ...Size, description: 'response bytes held per response for a client that is behind before the upstream read pauses; a response that fits frees its upstream connection (nginx proxy_buffering); default 64kb' }),
  }, closed)),
  log: Type.Optional(Type.Object({
    level: Type.Optional(Type.Union([Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'), Type.Literal('info'), Type.Literal('debug'), Type.Literal('trace'), Type.Literal('silent')])),
    access: Type.Optional(AccessLog),
  }, closed)),
  cluster: Type.Optional(Type.Object({
    id: Type.Optional(Name),
    etcd: Type.Object({ endpoints: Type.Array(Type.String(), { minItems: 1 }), prefix: Type.Optional(Path) }, closed),
    nats: Type.Optional(Type.Object({ servers: Type.Array(Type.String(), { minItems: 1 }) }, closed)),
    snapshot: Type.Optional(Type.String({ minLength: 1, description: 'last known good config, served when etcd is unreachable at start; relative to the config file; default data/snapshot-<id>.json' })),
    leaseTtl: Type.Optional(Type.String({ pattern: DURATION_PATTERN, 'x-message': 'must be a duration like 250ms, 5s, 1m or 2h', default: '10s', description: 'lease of this node\'s key in <prefix>/nodes/ (whole seconds): how long a dead node stays listed' })),
    startTimeout: Type.Optional(Type.String({ pattern: DURATION_PATTERN, 'x-message': 'must be a duration like 250ms, 5s, 1m or 2h', default: '3s', description: 'how long a starting node waits for etcd before it serves its snapshot' })),
  }, closed)),
  http2: Type.Optional(Http2Settings),
  tls: Type.Optional(TlsSettings),
  websocket: Type.Optional(WebSocketSettings),
  tracing: Type.Optional(Type.Object({
    endpoint: Type.String({ pattern: '^https?://[^/?#]+(/[^?#]*)?$', 'x-message': 'must be an http(s) URL', description: 'OTLP/HTTP (protobuf) traces URL of a collector, e.g. http://127.0.0.1:4318/v1/traces; tracing is on when set' }),
    sampleRatio: Type.Optional(Type.Number({ minimum: 0, maximum: 1, default: 0.01, description: 'share of new traces recorded (parent-based: a sampled incoming traceparent is always kept); reloaded with the config file' })),
    serviceName: Type.Optional(Type.String({ minLength: 1, maxLength: 128, default: 'gatehouse', description: 'service.name of the spans' })),
  }, closed)),
  dns: Type.Optional(Type.Object({
    servers: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'DNS servers (ip or ip:port) for upstream discovery; default the system resolvers' })),
  }, closed)),
}, closed);

export const Target = Type.Object({
  url: Type.String({ pattern: '^(https?|h2c?)://[^/?#]+/?$', 'x-message': 'must be http://, https://, h2c:// or h2://host:port with no path' }),
  weight: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000, default: 1 })),
}, closed);

// Upstream resilience (docs/upstreams.md). Semantic checks the schema cannot express
// (durations above zero, base <= max) run when the upstream is compiled.
/** A Duration with its own description / default. */
const dur = (o: { description?: string; default?: string }) => Type.String({ pattern: DURATION_PATTERN, 'x-message': 'must be a duration like 250ms, 5s, 1m or 2h', ...o });
const StatusCode = Type.Integer({ minimum: 100, maximum: 599 });
export const Retries = Type.Object({
  attempts: Type.Optional(Type.Integer({ minimum: 0, maximum: 10, default: 2, description: 'retries after the first try: attempts 2 = at most 3 tries' })),
  perTryTimeout: Type.Optional(dur({ description: 'time to response headers for each try; default: what is left of timeouts.response, which bounds all tries together' })),
  backoff: Type.Optional(Type.Object({
    base: Type.Optional(dur({ default: '25ms', description: 'full jitter: retry n waits a random time in [0, min(max, base * 2^n))' })),
    max: Type.Optional(dur({ default: '250ms' })),
  }, closed)),
  on: Type.Optional(Type.Array(Type.Union([
    Type.Literal('connect-error'), Type.Literal('timeout'), Type.Literal('reset'),
    Type.Integer({ minimum: 400, maximum: 599 }),
  ]), { minItems: 1, default: ['connect-error', 502, 503, 504], description: 'connect-error, timeout (no response head in time), reset (connection dropped before the head), or a status 400-599' })),
  methods: Type.Optional(Type.Array(Method, { minItems: 1, description: 'methods that may be retried; default the idempotent ones: GET HEAD OPTIONS PUT DELETE TRACE' })),
  budget: Type.Optional(Type.Object({
    percent: Type.Optional(Type.Number({ minimum: 0, maximum: 100, default: 20, description: 'retries in flight at most this share of the active requests to the upstream (Envoy retry budget)' })),
    minConcurrent: Type.Optional(Type.Integer({ minimum: 0, maximum: 100000, default: 3, description: 'retries in flight always allowed, whatever the share' })),
  }, closed)),
}, { ...closed, description: 'retry failed tries of idempotent requests (docs/upstreams.md)' });

export const CircuitBreaker = Type.Object({
  failures: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000, description: 'consecutive failures (error or 5xx) that open a target; default 5 when no other trigger is set' })),
  window: Type.Optional(dur({ default: '10s', description: 'sliding window for errorRatio and slowCall' })),
  errorRatio: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1, description: 'open when this share of the calls in the window failed' })),
  minRequests: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000000, default: 20, description: 'calls in the window before a ratio may open the breaker' })),
  slowCall: Type.Optional(Type.Object({
    threshold: dur({ description: 'a call slower than this to its response head is slow' }),
    ratio: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 0.5, description: 'open when this share of the calls in the window was slow' })),
  }, closed)),
  openFor: Type.Optional(dur({ default: '30s', description: 'how long an open target gets no traffic before half-open' })),
  probes: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 1, description: 'trial requests let through in half-open; all succeed: closed, one fails: open again' })),
  scope: Type.Optional(Type.Union([Type.Literal('local'), Type.Literal('cluster')], { default: 'local', description: 'cluster: state shared by every node (falls back to local until the cluster store runs)' })),
  fallback: Type.Optional(Type.Object({
    status: StatusCode,
    body: Type.Optional(Type.String({ maxLength: 65536 })),
    headers: Type.Optional(Type.Record(Type.String(), Type.String())),
  }, { ...closed, description: 'answer when no target can take the request (all open or unhealthy, none discovered), instead of the 503' })),
}, { ...closed, description: 'per-target circuit breaker (docs/upstreams.md)' });

export const HealthCheck = Type.Object({
  path: Type.String({ pattern: '^/', 'x-message': 'must start with /', maxLength: 2048, description: 'GET this path on every target' }),
  interval: Type.Optional(dur({ default: '5s' })),
  timeout: Type.Optional(dur({ default: '2s', description: 'a check without a response in time fails' })),
  healthyThreshold: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 2, description: 'consecutive passes that bring a target back' })),
  unhealthyThreshold: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 3, description: 'consecutive failures that take a target out of rotation' })),
  expectStatus: Type.Optional(Type.Array(Type.Union([
    StatusCode,
    Type.String({ pattern: '^[1-5][0-9]{2}-[1-5][0-9]{2}$', 'x-message': 'must be a status or a range like 200-399' }),
  ]), { minItems: 1, default: ['200-399'], description: 'statuses that pass' })),
}, { ...closed, description: 'active health checks of every target (docs/upstreams.md)' });

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
  queue: Type.Optional(Type.Object({
    maxPending: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000000, default: 1024, description: 'requests that may wait per target when every connection is busy; one more: 503 GW_UPSTREAM_OVERLOADED' })),
    maxWait: Type.Optional(dur({ description: 'longest wait for a connection; then 503 GW_UPSTREAM_OVERLOADED; default timeouts.response' })),
  }, { ...closed, description: 'bounded wait queue per target (docs/upstreams.md#wait-queue)' })),
  timeouts: Type.Optional(Type.Object({ connect: Type.Optional(Duration), response: Type.Optional(Duration), idle: Type.Optional(Duration) }, closed)),
  retries: Type.Optional(Retries),
  circuitBreaker: Type.Optional(CircuitBreaker),
  healthCheck: Type.Optional(HealthCheck),
  tls: Type.Optional(UpstreamTls),
  http2: Type.Optional(UpstreamHttp2),
}, closed);

export const Consumer = Type.Object({
  groups: Type.Optional(Type.Array(Name)),
  keys: Type.Optional(Type.Array(Type.String({ pattern: '^sha256:[0-9a-f]{64}$', 'x-message': 'must be sha256:<64 hex digits> (the digest, never the key)' }))),
  passwords: Type.Optional(Type.Array(Type.String({ pattern: '^scrypt:[0-9]{1,8}:[0-9]{1,2}:[0-9]{1,2}:[A-Za-z0-9+/]+={0,2}:[A-Za-z0-9+/]+={0,2}$', 'x-message': 'must be scrypt:N:r:p:saltBase64:hashBase64 (see gatehouse hash-password), never the password' }))),
  jwtSubjects: Type.Optional(Type.Array(Type.String())),
  metadata: Type.Optional(Type.Record(Type.String(), Type.String())),
}, closed);

export const RouteMatch = Type.Object({
  hosts: Type.Optional(Type.Array(Type.String({ pattern: '^(\\*\\.)?[A-Za-z0-9.-]+$', 'x-message': 'must be a host name or *.wildcard' }))),
  paths: Type.Array(Path, { minItems: 1 }),
  methods: Type.Optional(Type.Array(Method)),
  headers: Type.Optional(Type.Record(Type.String(), Type.String())),
  caseSensitive: Type.Optional(Type.Boolean({ default: true, description: 'false: the paths match in any ASCII case (/admin matches /ADMIN); set it when the upstream routes case-insensitively, so no spelling of a protected path reaches it through another route (docs/security.md#path-views)' })),
  strictSlash: Type.Optional(Type.Boolean({ default: true, description: 'false: one trailing slash does not matter (/admin matches /admin/, /admin/* matches /admin); set it when the upstream ignores trailing slashes (docs/security.md#path-views)' })),
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
  websocket: Type.Optional(Type.Boolean({ default: false, description: 'accept Upgrade: websocket on this route (docs/websocket.md); other routes refuse upgrades' })),
}, closed);

// Protocol conversion (docs/policies/grpc-transcode.md): a named set of .proto sources.
export const ProtoSet = Type.Union([
  Type.Object({ path: Type.String({ minLength: 1, description: 'the entry .proto file, relative to the config file; imports are looked up in its folder, then each parent folder' }) }, closed),
  Type.Object({
    files: Type.Record(Type.String({ minLength: 1, maxLength: 512 }), Type.String({ maxLength: 4194304 }), { description: 'name (as imports spell it) -> .proto text; what gatewayctl apply stores' }),
    entry: Type.String({ minLength: 1, description: 'the file of `files` the set starts from' }),
  }, closed),
], { description: 'a proto set: path (file mode) or files + entry' });

export const GatewayConfig = Type.Object({
  node: Type.Optional(NodeSettings),
  // Closed maps: a name that breaks the Name pattern is reported, in file and etcd mode alike.
  upstreams: Type.Optional(Type.Record(Name, Upstream, closed)),
  consumers: Type.Optional(Type.Record(Name, Consumer, closed)),
  routes: Type.Optional(Type.Record(Name, Route, closed)),
  protos: Type.Optional(Type.Record(Name, ProtoSet, closed)),
}, closed);

/**
 * The document without its items: the node section, and each collection as a closed map of
 * names. Validation checks the shell once and every item on its own (cached by identity), so
 * an edit re-checks what changed, not the table.
 */
export const ConfigShell = Type.Object({
  node: Type.Optional(NodeSettings),
  upstreams: Type.Optional(Type.Unknown()),
  consumers: Type.Optional(Type.Unknown()),
  routes: Type.Optional(Type.Unknown()),
  protos: Type.Optional(Type.Unknown()),
}, closed);
export const Collection = Type.Record(Name, Type.Unknown(), closed);

export type GatewayConfig = Static<typeof GatewayConfig>;
export type NodeSettings = Static<typeof NodeSettings>;
export type Upstream = Static<typeof Upstream>;
export type Consumer = Static<typeof Consumer>;
export type Route = Static<typeof Route>;
export type RouteMatch = Static<typeof RouteMatch>;
export type ProtoSet = Static<typeof ProtoSet>;
