/** Peer: http-proxy-3 behind http.createServer, with a keep-alive agent to the upstream. */
import http from 'node:http';
import { createProxyServer } from 'http-proxy-3';
import { peerArgs, exitOnSignal } from './args.ts';

const { port, upstream } = peerArgs();
const agent = new http.Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 64 });
const proxy = createProxyServer({ target: upstream, agent });
proxy.on('error', (_err, _req, res) => {
  // res is a ServerResponse for web requests (a Socket only for ws upgrades, unused here).
  if (res instanceof http.ServerResponse && !res.headersSent) res.writeHead(502).end();
});
const server = http.createServer((req, res) => { proxy.web(req, res); });
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1');
exitOnSignal();
