// The layer rule (docs/architecture.md): inside nodes/src every import points down. Each
// folder (or top-level file) lists the layers it may import; anything else, including a
// type-only import or an `import('…')` type, is an error. Tests (*.test.ts) may compose
// layers freely. Checked by `npm run lint`, which `npm test` runs.
import path from 'node:path';

const base = ['errors.ts', 'core'];
const leaf = [...base, 'http', 'router', 'schema', 'telemetry'];
const lib = [...leaf, 'cluster', 'upstream', 'protos'];
const model = [...lib, 'request'];
const data = [...model, 'policies', 'validation', 'pipeline', 'config', 'listeners'];

/** Layer → the layers its files may import (its own always). Bottom first. */
export const LAYERS = {
  'errors.ts': [],
  core: ['errors.ts'],
  http: base,
  router: base,
  schema: base,
  telemetry: base,
  protos: [...base, 'schema'],
  cluster: [...base, 'http', 'schema', 'telemetry'],
  upstream: [...base, 'http', 'schema', 'telemetry', 'cluster'],
  request: [...base, 'http', 'router', 'schema', 'telemetry', 'cluster', 'upstream'],
  discovery: lib,
  policies: model,
  validation: [...base, 'schema', 'policies', 'protos'],
  pipeline: [...model, 'policies'],
  config: [...base, 'schema', 'cluster', 'validation', 'protos'],
  listeners: [...base, 'http', 'schema', 'telemetry', 'pipeline'],
  'gateway.ts': data,
  workers: [...base, 'http', 'telemetry', 'cluster'],
  app: [...data, 'discovery', 'workers', 'gateway.ts'],
  'main.ts': [...data, 'discovery', 'workers', 'gateway.ts', 'app'],
  cli: [...data, 'discovery', 'workers', 'gateway.ts', 'app', 'main.ts'],
};

const SRC = path.resolve(import.meta.dirname, 'nodes/src');

/** The layer of a file under nodes/src: its first folder, or the file's own name at the top. */
export function layerOf(file) {
  const rel = path.relative(SRC, file);
  if (rel.startsWith('..') || path.isAbsolute(rel)) return undefined;
  return rel.split(path.sep)[0];
}

const rule = {
  meta: { type: 'problem', docs: { description: 'imports inside nodes/src point down the layers of docs/architecture.md' }, schema: [] },
  create(context) {
    const file = context.filename;
    const from = layerOf(file);
    if (from === undefined || file.endsWith('.test.ts')) return {};
    const allowed = LAYERS[from];
    const check = (node, spec) => {
      if (typeof spec !== 'string' || !spec.startsWith('.')) return;
      const to = layerOf(path.resolve(path.dirname(file), spec));
      if (to === undefined || to === from) return;
      if (allowed === undefined) context.report({ node, message: `layers: "${from}" is not in the layer table (eslint-layers.js, docs/architecture.md)` });
      else if (!allowed.includes(to)) context.report({ node, message: `layers: ${from} may not import ${to} (imports point down; docs/architecture.md)` });
    };
    return {
      ImportDeclaration: (n) => check(n, n.source.value),
      ExportNamedDeclaration: (n) => n.source && check(n, n.source.value),
      ExportAllDeclaration: (n) => check(n, n.source.value),
      ImportExpression: (n) => n.source.type === 'Literal' && check(n, n.source.value),
      TSImportType: (n) => check(n, n.source ? n.source.value : n.argument?.literal?.value),
    };
  },
};

export const layersPlugin = { rules: { 'imports-point-down': rule } };
