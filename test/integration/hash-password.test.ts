/** `gatehouse hash-password`: the printed hash verifies, loads as config, and bad costs are refused. */
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { parseScrypt, verifyScrypt } from '../../nodes/src/policies/basic-auth/scrypt.ts';
import { validateConfig } from '../../nodes/src/validation/validate.ts';

const run = promisify(execFile);
const BIN = new URL('../../nodes/bin/gatehouse.js', import.meta.url).pathname;

test('hash-password PASSWORD prints a scrypt: hash that verifies and validates as a consumer password', async (t) => {
  const { stdout } = await run(process.execPath, [BIN, 'hash-password', 'pässwort', '--cost', '1024']);
  const line = stdout.trim();
  t.regex(line, /^scrypt:1024:8:1:[A-Za-z0-9+/]+={0,2}:[A-Za-z0-9+/]+={0,2}$/);
  t.true(await verifyScrypt(Buffer.from('pässwort'), parseScrypt(line)));
  t.deepEqual(validateConfig({ consumers: { a: { passwords: [line] } } }), []);
  t.not(validateConfig({ consumers: { a: { passwords: ['pässwort'] } } }).length, 0, 'a plain password is not a hash');
});

test('hash-password - reads the password from stdin (first line)', async (t) => {
  const child = spawn(process.execPath, [BIN, 'hash-password', '-', '--cost', '1024']);
  let out = '';
  child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
  child.stdin.end('from stdin\nignored\n');
  const code = await new Promise<number | null>((r) => child.on('close', r));
  t.is(code, 0);
  t.true(await verifyScrypt(Buffer.from('from stdin'), parseScrypt(out.trim())));
});

test('hash-password refuses a cost that the gateway would refuse to load', async (t) => {
  const err = await run(process.execPath, [BIN, 'hash-password', 'x', '--cost', '1000']).catch((e: { code: number; stderr: string }) => e);
  t.is((err as { code: number }).code, 2);
  t.regex((err as { stderr: string }).stderr, /power of two/);
});
