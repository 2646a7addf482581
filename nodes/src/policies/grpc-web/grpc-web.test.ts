/** Unit tests: gRPC-Web framing and grpc-web-text decoding (no network). */
import test from 'ava';
import { parseFrames, decodeText, dataFrame, trailerFrame, encodeGrpcMessage } from './frames.ts';

test('frames: data and trailers frames round-trip; truncated and oversize frames are refused', (t) => {
  const body = Buffer.concat([dataFrame(Buffer.from('abc')), trailerFrame({ 'grpc-status': '0' })]);
  const f = parseFrames(body, 100) as Array<{ flags: number; data: Buffer }>;
  t.deepEqual(f.map((x) => [x.flags, x.data.toString()]), [[0, 'abc'], [0x80, 'grpc-status:0\r\n']]);
  t.is(parseFrames(body.subarray(0, body.length - 1), 100), undefined);
  t.is(parseFrames(Buffer.from([0, 0, 0]), 100), undefined);
  t.is(parseFrames(dataFrame(Buffer.alloc(200)), 100), 'too-large');
  t.deepEqual(parseFrames(Buffer.alloc(0), 100), []);
});

test('grpc-web-text: separately padded base64 pieces decode as one body; junk is refused', (t) => {
  const whole = Buffer.from('hello gRPC-Web text!');
  const pieces = [whole.subarray(0, 4), whole.subarray(4, 5), whole.subarray(5)].map((b) => b.toString('base64')).join('');
  t.true(/=[A-Za-z0-9+/]/.test(pieces), 'padding in the middle');
  t.deepEqual(decodeText(pieces), whole);
  t.deepEqual(decodeText(whole.toString('base64') + '\r\n'), whole);
  t.is(decodeText('abc!'), undefined);
  t.is(decodeText('a'), undefined);
  t.is(decodeText('ab=c'), undefined);
});

test('grpc-message is percent-encoded outside printable ASCII and for %', (t) => {
  t.is(encodeGrpcMessage('not found: 100% ünïcode\n'), 'not found: 100%25 %C3%BCn%C3%AFcode%0A');
});
