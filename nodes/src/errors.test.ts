import test from 'ava';
import { readFileSync } from 'node:fs';
import { errors, problemBody } from './errors.ts';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');

test('every error code is documented in docs/errors.md with its status', (t) => {
  for (const [code, e] of Object.entries(errors)) {
    t.regex(doc, new RegExp(`\\| \`${code}\` \\| ${e.status} \\|`), `${code} missing from docs/errors.md`);
  }
});

test('problem bodies have the RFC 9457 members and the code', (t) => {
  const b = JSON.parse(problemBody('GW_RATE_LIMITED', 'rid-1'));
  t.deepEqual(Object.keys(b).sort(), ['code', 'detail', 'requestId', 'status', 'title', 'type']);
  t.is(b.status, 429);
  t.is(b.requestId, 'rid-1');
});
