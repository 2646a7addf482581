import test from 'ava';
import { hasDuplicateKeys } from './json.ts';

test('duplicate member names are found at any depth, compared decoded', (t) => {
  t.false(hasDuplicateKeys('{"a":1,"b":{"a":2},"c":[{"a":1},{"a":2}]}'));
  t.true(hasDuplicateKeys('{"sub":"alice","sub":"admin"}'));
  t.true(hasDuplicateKeys('{"x":{"k":1,"k":2}}'));
  t.true(hasDuplicateKeys('{"sub":"a","s\\u0075b":"b"}'));
  t.true(hasDuplicateKeys('{"a":[1,{"b":1,"b":2}]}'));
  t.false(hasDuplicateKeys('{"a":"\\"a\\":1,","b":"{\\"c\\":1,\\"c\\":2}"}'), 'quotes and braces inside strings are text');
  t.false(hasDuplicateKeys('{"a":["a","a"]}'), 'array values may repeat');
  t.false(hasDuplicateKeys('{}'));
  t.false(hasDuplicateKeys('[{"a":1},{"a":1}]'));
});
