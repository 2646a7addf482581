/** grpc-transcode: the config side (schema and its checks); the runtime is index.ts. */
import type { PolicySpec } from '../../schema/policy-spec.ts';
import { compileBindings } from './compile.ts';
import { schema, type TranscodeConfig } from './schema.ts';

export const spec: PolicySpec<TranscodeConfig> = {
  name: 'grpc-transcode',
  phase: 'upstream',
  priority: -1000,
  schema,
  check(config, ctx) {
    if ((config as { enforce?: boolean }).enforce === false) return [{ path: `${ctx.path}.enforce`, message: 'grpc-transcode answers the request itself: it cannot run in shadow mode' }];
    const r = compileBindings(config, ctx.doc, ctx.baseDir ?? process.cwd());
    // A set that does not load is reported once, at protos.<name>.
    if (!Array.isArray(r) || r[2] === 'set') return [];
    return [{ path: `${ctx.path}.${r[0].join('.')}`, message: r[1] }];
  },
};
