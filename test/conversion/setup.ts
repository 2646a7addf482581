/** Shared start-up for the conversion tests: a real gRPC server and a gateway routing to it. */
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { freePort } from '../helpers/ports.ts';
import { startGrpcServer, BOOKSTORE, USERS, type GrpcServer } from './grpc-server.ts';

export interface Bed { grpc: GrpcServer; gw: TestGateway; stop(): Promise<void> }

export async function startBed(policies: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Promise<Bed> {
  const grpc = await startGrpcServer();
  const deadPort = await freePort(); // nothing listens there
  const gw = await startGateway({
    protos: { bookstore: { path: BOOKSTORE }, users: { path: USERS } },
    upstreams: { store: { targets: [{ url: grpc.url }] }, dead: { targets: [{ url: `http://127.0.0.1:${deadPort}` }] } },
    routes: {
      rest: {
        match: { paths: ['/v1/*', '/bookstore.v1.Bookstore/*'] },
        upstream: 'store',
        policies: { 'grpc-transcode': { proto: 'bookstore', services: ['bookstore.v1.Bookstore'], metadata: { request: ['x-tenant'] } }, ...policies },
      },
      // The policy's own deadline (1 s) on a route of its own: other routes keep the upstream's
      // 30 s, so a busy machine cannot turn their calls into 504s.
      slow: {
        match: { paths: ['/slow/*'] },
        upstream: 'store',
        rewrite: { stripPrefix: '/slow' },
        policies: { 'grpc-transcode': { proto: 'bookstore', timeout: '1s' } },
      },
      dead: {
        match: { paths: ['/dead/*'] },
        upstream: 'dead',
        rewrite: { stripPrefix: '/dead' },
        policies: { 'grpc-transcode': { proto: 'users' } },
      },
      users: {
        match: { paths: ['/users/*'] },
        upstream: 'store',
        rewrite: { stripPrefix: '/users' },
        policies: { 'grpc-transcode': { proto: 'users', print: { protoFieldNames: true, defaults: true } } },
      },
    },
    ...extra,
  } as never);
  if (gw.gw.configErrors.length) throw new Error(gw.gw.describeErrors());
  return { grpc, gw, stop: async () => { await gw.stop(); await grpc.stop(); } };
}
