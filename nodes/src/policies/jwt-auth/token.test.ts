import test from 'ava';
import { precheck, withoutCookie } from './token.ts';
import { forge, claims, rsaPair, b64u } from './testkit.ts';

const rsa = rsaPair();
const algs = new Set(['RS256']);
const good = forge({ alg: 'RS256' }, claims('bob'), rsa.privateKey);
const [h, p, s] = good.split('.') as [string, string, string];

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
/** The same bytes spelled with a non-zero unused low bit in the last character. */
function twin(seg: string): string {
  const i = ALPHABET.indexOf(seg[seg.length - 1]!);
  const other = seg.slice(0, -1) + ALPHABET[i ^ 1]!;
  if (!Buffer.from(other, 'base64url').equals(Buffer.from(seg, 'base64url'))) throw new Error('segment has no unused bits');
  return other;
}

test('a well-formed token passes the structural checks', (t) => {
  const d = precheck(good, 8192, algs);
  t.is(d?.header.alg, 'RS256');
  t.is(d?.payload.sub, 'bob');
});

test('structural refusals, each for its own reason', (t) => {
  const cases: Record<string, string> = {
    'two segments': `${h}.${p}`,
    'four segments': `${good}.x`,
    'empty signature (stripped)': `${h}.${p}.`,
    'padding': `${h}.${p}.${s}==`,
    'standard base64 alphabet': `${h}.${p}.${s.replace(/-/g, '+')}+`,
    'non-canonical trailing bits': `${twin(b64u('{"alg":"RS256" }'))}.${p}.${s}`,
    'header not JSON': `${b64u('{alg')}.${p}.${s}`,
    'header an array': `${b64u('["RS256"]')}.${p}.${s}`,
    'header invalid UTF-8': `${b64u(Buffer.from([0x7b, 0xff, 0x7d]))}.${p}.${s}`,
    'alg none': `${b64u('{"alg":"none"}')}.${p}.${s}`,
    'alg not pinned': `${b64u('{"alg":"HS256"}')}.${p}.${s}`,
    'alg missing': `${b64u('{"typ":"JWT"}')}.${p}.${s}`,
    'duplicate alg': `${b64u('{"alg":"RS256","alg":"RS256"}')}.${p}.${s}`,
    'payload a string': `${h}.${b64u('"sub"')}.${s}`,
    'duplicate claims': `${h}.${b64u('{"sub":"bob","sub":"alice"}')}.${s}`,
    'whitespace inside': `${h}. ${p}.${s}`,
    'exp Infinity (1e999)': `${h}.${b64u('{"sub":"bob","exp":1e999}')}.${s}`,
    'nbf as a string': `${h}.${b64u('{"sub":"bob","exp":1,"nbf":"0"}')}.${s}`,
    'iat null': `${h}.${b64u('{"sub":"bob","exp":1,"iat":null}')}.${s}`,
  };
  for (const [why, tok] of Object.entries(cases)) t.is(precheck(tok, 8192, algs), undefined, why);
  t.is(precheck(good, good.length - 1, algs), undefined, 'over maxTokenLength');
});

test('withoutCookie removes one cookie and keeps the rest', (t) => {
  t.is(withoutCookie('a=1; at=x; b=2', 'at'), 'a=1; b=2');
  t.is(withoutCookie('at=x', 'at'), '');
  t.is(withoutCookie('att=1;at=2', 'at'), 'att=1');
});
