import test from 'ava';
import { readFileSync } from 'node:fs';
import { configReference } from './reference.ts';

test('docs/config.md is generated from the current schema (run `npm run docs:config`)', (t) => {
  const doc = readFileSync(new URL('../../../docs/config.md', import.meta.url), 'utf8');
  t.is(doc, configReference());
});
