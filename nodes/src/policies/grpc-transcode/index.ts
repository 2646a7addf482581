/**
 * grpc-transcode: REST/JSON ↔ gRPC from google.api.http rules (docs/policies/grpc-transcode.md).
 * Everything is compiled when the config loads: the proto set, each method's bindings
 * (templates → regexes, field paths resolved), the JSON field tables. A request only
 * matches, converts and calls. The policy answers the request itself (call.ts), so it runs
 * last: phase `upstream`, lowest priority.
 */
import type { PolicyDefinition, PolicyHandlers, LocalReply } from '../../request/policy.ts';
import type { RequestContext } from '../../request/context.ts';
import { parseDuration, parseSize } from '../../schema/duration.ts';
import { GrpcPools } from '../../upstream/h2/grpc-call.ts';
import { compileBindings } from './compile.ts';
import type { BindingTable } from './bindings.ts';
import { spec } from './spec.ts';
import { transcode, type Settings } from './call.ts';
import { schema, type TranscodeConfig } from './schema.ts';

export { schema };

const DEFAULT_MAX_MESSAGE = 4 * 1024 * 1024;

export const grpcTranscode: PolicyDefinition<TranscodeConfig> = {
  ...spec,
  create(config, deps) {
    const where = `routes.${deps.routeName}.policies.grpc-transcode`;
    const r = compileBindings(config, deps.config, deps.baseDir);
    if (Array.isArray(r)) throw new Error(`${where}.${r[0].join('.')}: ${r[1]}`);
    const { table, root } = r;
    const maxMessageSize = config.maxMessageSize === undefined ? DEFAULT_MAX_MESSAGE : parseSize(config.maxMessageSize);
    const pools = new GrpcPools();
    const s: Settings = {
      root,
      print: { protoNames: config.print?.protoFieldNames ?? false, defaults: config.print?.defaults ?? false },
      query: { ignore: new Set(config.query?.ignore ?? []), ignoreUnknown: config.query?.ignoreUnknown ?? false },
      requestHeaders: (config.metadata?.request ?? []).map((h) => h.toLowerCase()),
      responseHeaders: config.metadata?.response ? new Set(config.metadata.response.map((h) => h.toLowerCase())) : undefined,
      maxMessageSize,
      timeout: config.timeout === undefined ? undefined : parseDuration(config.timeout),
      pools,
      calls: deps.metrics.counter('gatehouse_grpc_transcode_calls_total', 'Transcoded gRPC calls by route, gRPC method and gRPC status code name.', ['route', 'method', 'code']),
      route: deps.routeName,
    };
    return Object.freeze<PolicyHandlers>({
      request(ctx: RequestContext) {
        const path = routedPath(ctx);
        // HEAD is GET without the body (RFC 9110 §9.3.2); the reply path drops the body.
        const hit = table.match(ctx.method === 'HEAD' ? 'GET' : ctx.method, path);
        if (hit) return transcode(ctx, hit.b, hit.m, s);
        return noBinding(table, path);
      },
      close() { pools.close(); },
    });
  },
};

/**
 * The path the bindings are matched against: the normalised path after the route's
 * stripPrefix (a REST API mounted under /api/ keeps its templates), without the query.
 */
function routedPath(ctx: RequestContext): string {
  const strip = ctx.route?.stripPrefix;
  const path = ctx.path;
  if (strip === undefined || !path.startsWith(strip)) return path;
  if (path.length === strip.length) return '/';
  return path.charCodeAt(strip.length) === 47 ? path.slice(strip.length) : path;
}

function noBinding(table: BindingTable, path: string): LocalReply {
  const allow = table.allowed(path);
  if (allow.length) return { code: 'GW_METHOD_NOT_ALLOWED', headers: { allow: allow.join(', ') } };
  return { code: 'GW_ROUTE_NOT_FOUND', detail: 'No gRPC method is bound to this path' };
}
