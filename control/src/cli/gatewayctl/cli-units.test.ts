import test from 'ava';
import { parseArgs, UsageError } from './args.ts';
import { lineDiff, table } from './output.ts';
import { isLoopback, parseListen } from './serve.ts';

const spec = { values: ['file', 'output'], switches: ['prune'], short: { f: 'file', o: 'output' } };

test('parseArgs: positionals, short and long flags, = values, switches, --', (t) => {
  t.deepEqual(parseArgs(['apply', '-f', 'x.yaml', '--prune', '--output=json', '--', '--not-a-flag'], spec), {
    _: ['apply', '--not-a-flag'], flags: { file: 'x.yaml', prune: true, output: 'json' },
  });
  t.throws(() => parseArgs(['--purne'], spec), { instanceOf: UsageError, message: 'unknown option --purne' });
  t.throws(() => parseArgs(['-f'], spec), { instanceOf: UsageError, message: '--file needs a value' });
  t.throws(() => parseArgs(['--prune=yes'], spec), { instanceOf: UsageError });
  t.deepEqual(parseArgs(['apply', '-f', '-'], spec).flags, { file: '-' });
});

test('lineDiff marks only what changed', (t) => {
  t.deepEqual(lineDiff(['a', 'b', 'c'], ['a', 'x', 'c', 'd']), ['  a', '- b', '+ x', '  c', '+ d']);
  t.deepEqual(lineDiff([], ['a']), ['+ a']);
});

test('table aligns columns without trailing spaces', (t) => {
  t.is(table(['A', 'LONG'], [['xyz', '1'], ['q', '']]), 'A    LONG\nxyz  1\nq');
});

test('listen addresses: host:port, [v6]:port, bare port on loopback; loopback detection', (t) => {
  t.deepEqual(parseListen('127.0.0.1:9180'), { host: '127.0.0.1', port: 9180 });
  t.deepEqual(parseListen('[::1]:9180'), { host: '::1', port: 9180 });
  t.deepEqual(parseListen('9180'), { host: '127.0.0.1', port: 9180 });
  t.throws(() => parseListen('nowhere'));
  t.throws(() => parseListen('1.2.3.4:99999'));
  t.true(isLoopback('127.0.0.1'));
  t.true(isLoopback('::1'));
  t.false(isLoopback('0.0.0.0'));
});
