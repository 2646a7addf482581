import test from 'ava';
import { parseConfigText } from './file.ts';

test('JSON configs take the native parser and still refuse duplicate keys (with the YAML parser\'s message)', (t) => {
  t.deepEqual(parseConfigText('{"routes": {"a": {"x": "b:c", "y": "say \\"k\\": v"}}}'), { doc: { routes: { a: { x: 'b:c', y: 'say "k": v' } } } });
  const dup = parseConfigText('{"routes": {"a": 1, "a": 2}}');
  t.is(dup.doc, undefined);
  t.regex(dup.error!, /unique|duplicate/i);
  // Not JSON after all: YAML decides, as before.
  t.deepEqual(parseConfigText('routes: {}\n').doc, { routes: {} });
});
