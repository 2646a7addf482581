/**
 * Fallback upstream when nginx is not installed: the cheapest Node server answering 200
 * with the same ~100-byte body. Slower than nginx, so the output notes which one ran.
 */
import http from 'node:http';
import { UPSTREAM_BODY } from '../lib/nginx.ts';
import { peerArgs, exitOnSignal } from './args.ts';

const { port } = peerArgs();
const body = Buffer.from(UPSTREAM_BODY);
const headers = { 'content-type': 'application/json', 'content-length': String(body.length) };
const server = http.createServer((req, res) => {
  // Drain any request body so the keep-alive connection stays usable.
  req.resume();
  res.writeHead(200, headers).end(body);
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1');
exitOnSignal();
