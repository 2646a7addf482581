/** Peer: fast-gateway 3.x with one catch-all route (its default agent is keep-alive). */
import gateway from 'fast-gateway';
import { peerArgs, exitOnSignal } from './args.ts';

const { port, upstream } = peerArgs();
await gateway({ routes: [{ prefix: '/', target: upstream }] }).start(port, '127.0.0.1');
exitOnSignal();
