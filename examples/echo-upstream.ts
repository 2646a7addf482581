/**
 * Demo upstream for the quick start: answers every request with JSON describing what it
 * received (method, path, headers, body size), so a new user sees exactly what the
 * gateway forwards. Not part of the gateway.
 */
import http from 'node:http';

const port = Number(process.env.PORT ?? 8081);
const host = process.env.HOST ?? '127.0.0.1'; // infra/compose.yaml: 0.0.0.0
const server = http.createServer((req, res) => {
  let size = 0;
  req.on('data', (c: Buffer) => { size += c.length; });
  req.on('end', () => {
    const body = JSON.stringify({ service: 'echo', method: req.method, url: req.url, headers: req.headers, bodyBytes: size }, null, 2) + '\n';
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'public, max-age=5' });
    res.end(body);
  });
});
server.listen(port, host, () => console.error(`echo upstream on ${host}:${port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
process.on('SIGINT', () => server.close(() => process.exit(0)));
