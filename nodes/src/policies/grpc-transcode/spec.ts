/** grpc-transcode: the config side (schema and its checks); the runtime is index.ts. */
import type { PolicySpec } from '../../schema/policy-spec.ts';
import { formatPath } from '../../schema/validate.ts';
import { compileBindings } from './compile.ts';
import { schema, type TranscodeConfig } from './schema.ts';

export const spec: PolicySpec<TranscodeConfig> = {
  name: 'grpc-transcode',
  phase: 'upstream',
  canDeny: false,
  priority: -1000,
  schema,
  readsProtos: true,
  check(config, ctx) {
    if (ctx.partial) return []; // the proto set is another key: checked when the whole config compiles
    const r = compileBindings(config, ctx.doc, ctx.baseDir ?? process.cwd());
    // A set that does not load is reported once, at protos.<name>.
    if (!Array.isArray(r) || r[2] === 'set') return [];
    return [{ path: formatPath(ctx.path, r[0]), message: r[1] }];
  },
};
