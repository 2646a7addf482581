import test from 'ava';
import { setNodeV8Flags } from './main.ts';

test('a node turns allocation-site pretenuring off unless its command line sets it either way', (t) => {
  t.false(setNodeV8Flags(['--allocation-site-pretenuring']));
  t.false(setNodeV8Flags(['--no-allocation_site_pretenuring']));
  t.true(setNodeV8Flags(['--max-old-space-size=512']));
  t.true(setNodeV8Flags([]));
});
