/** Peer: fastify + @fastify/http-proxy (undici pool sized like the floor's). */
import Fastify from 'fastify';
import proxy from '@fastify/http-proxy';
import { peerArgs, exitOnSignal } from './args.ts';

const { port, upstream } = peerArgs();
const app = Fastify({ logger: false });
await app.register(proxy, { upstream, undici: { connections: 64, pipelining: 1, keepAliveTimeout: 60_000 } });
await app.listen({ port, host: '127.0.0.1' });
exitOnSignal();
