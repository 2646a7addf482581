// Micro-benchmark of the HPACK codec (not a test): ns per decode of a typical gRPC response block,
// warm (every field indexed) and cold (Huffman literals, indexed into the table), and ns per encode
// of a typical gRPC request. Run: node bench/hpack-micro.ts
import { randomUUID } from 'node:crypto';
import { HpackDecoder, HpackEncoder } from '../nodes/src/http/hpack/hpack.ts';
import { huffmanEncode, huffmanEncodedLength } from '../nodes/src/http/hpack/huffman.ts';

/** Median ns per call of fn over 7 rounds (after a warm-up round). */
function bench(name: string, iterations: number, fn: (i: number) => void): void {
  const rounds: number[] = [];
  for (let r = 0; r < 8; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) fn(i);
    if (r > 0) rounds.push(Number(process.hrtime.bigint() - start) / iterations);
  }
  rounds.sort((a, b) => a - b);
  console.log(`${name.padEnd(58)} ${rounds[3]!.toFixed(0).padStart(5)} ns/op`);
}

const RESPONSE = [
  ':status', '200', 'content-type', 'application/grpc', 'grpc-accept-encoding', 'identity,deflate,gzip',
  'grpc-encoding', 'identity', 'x-envoy-upstream-service-time', '3',
];

// Warm: what a peer sends once the response headers are in its table: one byte a field.
const peer = new HpackEncoder();
const warmDecoder = new HpackDecoder();
warmDecoder.decode(peer.encode(RESPONSE), []);
const warm = peer.encode(RESPONSE);
if (warm.length !== RESPONSE.length / 2) throw new Error('expected every field indexed');
let out: string[] = [];
bench(`decode warm gRPC response (${warm.length} bytes, all indexed)`, 1_000_000, () => {
  out = [];
  warmDecoder.decode(warm, out);
});

// Cold: as nghttp2 sends it first: literals with incremental indexing, Huffman-coded.
function huffman(s: string): Buffer {
  const b = Buffer.alloc(1 + huffmanEncodedLength(s));
  b[0] = 0x80 | (b.length - 1);
  huffmanEncode(s, b, 1);
  return b;
}
const cold = Buffer.concat([
  Buffer.from([0x88]), // :status 200
  Buffer.from([0x40 | 31]), huffman('application/grpc'), // content-type, static name
  Buffer.from([0x40]), huffman('grpc-accept-encoding'), huffman('identity,deflate,gzip'),
  Buffer.from([0x40]), huffman('grpc-encoding'), huffman('identity'),
  Buffer.from([0x40]), huffman('x-envoy-upstream-service-time'), huffman('3'),
]);
const coldDecoder = new HpackDecoder();
bench(`decode cold gRPC response (${cold.length} bytes, Huffman literals)`, 200_000, () => {
  out = [];
  coldDecoder.decode(cold, out);
});

// Encode: a gRPC request; x-request-id differs each time.
const ids = Array.from({ length: 1024 }, () => randomUUID());
const request = [
  ':method', 'POST', ':path', '/bench.Echo/Unary', ':scheme', 'http', ':authority', '127.0.0.1:5000',
  'content-type', 'application/grpc', 'te', 'trailers', 'user-agent', 'grpc-node-js/1.14',
  'grpc-accept-encoding', 'identity,deflate,gzip', 'x-request-id', '',
];
const encoder = new HpackEncoder();
let bytes = 0;
bench('encode gRPC request (9 fields)', 500_000, (i) => {
  request[17] = ids[i & 1023]!;
  bytes = encoder.encode(request).length;
});
console.log(`(request block: ${bytes} bytes once warm; decoded ${out.length / 2} fields)`);
