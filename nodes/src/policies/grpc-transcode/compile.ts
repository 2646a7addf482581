/** grpc-transcode: compiling a config's bindings from its proto set (pure; used by spec.ts and index.ts). */
import type { GatewayConfig } from '../../schema/model.ts';
import { loadProtoSet, servicesOf, type ProtoSpec } from '../../protos/sets.ts';
import { BindingTable, serviceBindings, type Binding } from './bindings.ts';
import type { TranscodeConfig } from './schema.ts';

/** The bindings of a config, or the first problem as [relative path, message]. */
export function compileBindings(config: TranscodeConfig, doc: Pick<GatewayConfig, 'protos'>, baseDir: string): { table: BindingTable; root: import('protobufjs').Root } | [(string | number)[], string, 'set'?] {
  const spec = (doc.protos as Record<string, ProtoSpec> | undefined)?.[config.proto];
  if (!spec) return [['proto'], `unknown proto set "${config.proto}" (define it under protos)`];
  let root;
  try { root = loadProtoSet(spec, baseDir); } catch (err) {
    return [['proto'], `proto set "${config.proto}" does not load: ${(err as Error).message}`, 'set'];
  }
  const all = servicesOf(root);
  const names = config.services ?? [...all.keys()].filter((n) => !n.startsWith('google.'));
  if (!names.length) return [['proto'], `proto set "${config.proto}" has no services`];
  const bindings: Binding[] = [];
  for (let i = 0; i < names.length; i++) {
    const svc = all.get(names[i]!);
    if (!svc) return [['services', i], `unknown service "${names[i]}" in proto set "${config.proto}" (known: ${[...all.keys()].filter((n) => !n.startsWith('google.')).join(', ') || 'none'})`];
    try { bindings.push(...serviceBindings(svc)); } catch (err) { return [['services', i], (err as Error).message]; }
  }
  return { table: new BindingTable(bindings), root };
}
