/**
 * docs/config.md is generated from the schema (architecture principle 4: one source of
 * truth). `npm run docs:config` rewrites it; a test fails when it is stale.
 */
import type { TSchema } from 'typebox';
import { GatewayConfig } from '../schema/model.ts';
import { policies } from '../policies/registry.ts';

function typeOf(s: any): string {
  if (s.anyOf) return s.anyOf.map(typeOf).join(' \\| ');
  if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``;
  if (s.type === 'array') return `list of ${typeOf(s.items ?? {})}`;
  if (s.type === 'object' && s.patternProperties) return 'map';
  if (s['x-message']?.includes('duration')) return 'duration';
  return s.type ?? 'any';
}

function walk(s: any, path: string, rows: string[]): void {
  const props = s.properties as Record<string, any> | undefined;
  if (props) {
    const req = new Set<string>(s.required ?? []);
    for (const [k, v] of Object.entries(props)) {
      const p = path ? `${path}.${k}` : k;
      const notes = [v.description, v['x-message'] && `must: ${v['x-message'].replace(/^must (be )?/, '')}`, v.default !== undefined && `default ${JSON.stringify(v.default)}`].filter(Boolean).join('; ');
      rows.push(`| \`${p}\` | ${typeOf(v)} | ${req.has(k) ? 'yes' : ''} | ${notes} |`);
      walk(v, p, rows);
    }
  }
  if (s.patternProperties) for (const v of Object.values<any>(s.patternProperties)) walk(v, `${path}.<name>`, rows);
  if (s.type === 'array' && s.items) walk(s.items, `${path}[]`, rows);
  if (s.anyOf) for (const v of s.anyOf) if (v.type === 'object') walk(v, path, rows);
}

export function configReference(): string {
  const head = '| field | type | required | notes |\n| --- | --- | --- | --- |';
  const rows: string[] = [];
  walk(GatewayConfig, '', rows);
  let out = `# Config reference\n\nGenerated from \`nodes/src/schema/model.ts\` by \`npm run docs:config\`; do not edit by hand.\nDurations are strings (\`250ms\`, \`5s\`, \`1m\`, \`2h\`); sizes are bytes or \`64kb\`, \`1mb\`.\nEvery object is closed: an unknown field is an error.\n\n## Gateway\n\n${head}\n${rows.join('\n')}\n\n## Policies\n\nSet per route under \`routes.<name>.policies.<policy>\`. A policy that can refuse a request accepts \`enforce: false\`: shadow mode (evaluate, log and count, never block); one that cannot (shadow mode: no) refuses it. Details and examples: docs/policies/<policy>.md; the list: docs/policies/README.md.\n`;
  for (const [name, p] of [...policies].sort(([a], [b]) => a.localeCompare(b))) {
    const r: string[] = [];
    walk(p.schema as TSchema, '', r);
    out += `\n### ${name}\n\nphase \`${p.phase}\`, priority ${p.priority}, shadow mode ${p.canDeny ? 'yes' : 'no'}\n\n${head}\n${r.join('\n')}\n`;
  }
  return out;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\/nodes\//, '/nodes/'))) {
  const { writeFileSync } = await import('node:fs');
  writeFileSync(new URL('../../../docs/config.md', import.meta.url), configReference());
}
