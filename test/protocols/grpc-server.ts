/**
 * An @grpc/grpc-js server for the pass-through tests: raw-bytes methods of each kind
 * (unary, server, client and bidi streaming), one that fails with a status, a slow one and
 * an endless stream that records its cancellation.
 */
import * as grpc from '@grpc/grpc-js';

const raw = { requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b };
const def = (path: string, requestStream: boolean, responseStream: boolean) => ({ path, requestStream, responseStream, originalName: path, ...raw });

export interface GrpcUp { port: number; cancelled: number; lastMeta: grpc.Metadata | undefined; close(): Promise<void> }

export async function startGrpcServer(): Promise<GrpcUp> {
  const up: GrpcUp = { port: 0, cancelled: 0, lastMeta: undefined, close: async () => undefined };
  const server = new grpc.Server();
  const service = {
    Unary: def('/test.Echo/Unary', false, false),
    ServerStream: def('/test.Echo/ServerStream', false, true),
    ClientStream: def('/test.Echo/ClientStream', true, false),
    Bidi: def('/test.Echo/Bidi', true, true),
    Fail: def('/test.Echo/Fail', false, false),
    Slow: def('/test.Echo/Slow', false, false),
    Forever: def('/test.Echo/Forever', false, true),
  } as unknown as grpc.ServiceDefinition;
  server.addService(service, {
    Unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      up.lastMeta = call.metadata;
      const trailer = new grpc.Metadata();
      trailer.set('x-trailer', 'yes');
      cb(null, Buffer.concat([Buffer.from('echo:'), call.request]), trailer);
    },
    ServerStream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      const n = Number(call.request.toString());
      for (let i = 0; i < n; i++) call.write(Buffer.from(`m${i}`));
      call.end();
    },
    ClientStream: (call: grpc.ServerReadableStream<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const parts: Buffer[] = [];
      call.on('data', (b: Buffer) => parts.push(b));
      call.on('end', () => cb(null, Buffer.concat(parts)));
    },
    Bidi: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (b: Buffer) => call.write(Buffer.concat([Buffer.from('re:'), b])));
      call.on('end', () => call.end());
    },
    Fail: (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => { cb({ code: grpc.status.NOT_FOUND, details: 'no such thing' }); },
    Slow: (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => { setTimeout(() => cb(null, Buffer.from('late')), 3000).unref(); },
    Forever: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      let i = 0;
      const t = setInterval(() => { call.write(Buffer.from(`tick${i++}`)); }, 50);
      call.on('cancelled', () => { up.cancelled++; clearInterval(t); });
      call.on('close', () => clearInterval(t));
    },
  } as unknown as grpc.UntypedServiceImplementation);
  up.port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port)));
  });
  up.close = () => new Promise((r) => { server.tryShutdown(() => r()); setTimeout(() => { server.forceShutdown(); r(); }, 2000).unref(); });
  return up;
}
