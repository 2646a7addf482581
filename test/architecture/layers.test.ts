/**
 * The layer rule (eslint-layers.js, docs/architecture.md) is real: an upward import is a lint
 * error, the table has no cycle, and every folder of nodes/src has a place in it.
 */
import test from 'ava';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
// @ts-expect-error: plain JS module without types
import { LAYERS } from '../../eslint-layers.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const table = LAYERS as Record<string, string[]>;

async function lint(file: string, code: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: root });
  const [r] = await eslint.lintText(code, { filePath: `${root}nodes/src/${file}` });
  return r!.messages.filter((m) => m.ruleId === 'layers/imports-point-down').map((m) => m.message);
}

test('an upward import is a lint error (static, type-only and import() types)', async (t) => {
  t.deepEqual(await lint('policies/cors/x.ts', "import type { Runtime } from '../../pipeline/runtime.ts';\nexport type R = Runtime;\n"),
    ['layers: policies may not import pipeline (imports point down; docs/architecture.md)']);
  t.deepEqual(await lint('core/x.ts', "export type U = import('../upstream/upstream.ts').UpstreamRuntime;\n"),
    ['layers: core may not import upstream (imports point down; docs/architecture.md)']);
  t.deepEqual(await lint('upstream/x.ts', "export { sendReply } from '../pipeline/reply.ts';\n"),
    ['layers: upstream may not import pipeline (imports point down; docs/architecture.md)']);
});

test('a downward import passes', async (t) => {
  t.deepEqual(await lint('pipeline/x.ts', "import type { LocalReply } from '../core/reply.ts';\nexport type L = LocalReply;\n"), []);
});

test('the layer table has no cycle', (t) => {
  const state = new Map<string, 'open' | 'done'>();
  const visit = (l: string, trail: string[]): void => {
    if (state.get(l) === 'done') return;
    if (state.get(l) === 'open') { t.fail(`cycle: ${[...trail, l].join(' → ')}`); return; }
    state.set(l, 'open');
    for (const d of table[l] ?? []) visit(d, [...trail, l]);
    state.set(l, 'done');
  };
  for (const l of Object.keys(table)) visit(l, []);
  t.pass();
});

test('every folder and top-level file of nodes/src has a layer', (t) => {
  const entries = readdirSync(`${root}nodes/src`, { withFileTypes: true })
    .filter((e) => e.isDirectory() || (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')))
    .map((e) => e.name);
  t.deepEqual(entries.filter((e) => !(e in table)), []);
});
