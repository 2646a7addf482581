/**
 * The gRPC service the grpc scenarios call: users.v1.Users/GetUser from proto/, served by
 * @grpc/grpc-js with protobufjs (de)serialisation. `node grpc-upstream.ts <port>`.
 */
import * as grpc from '@grpc/grpc-js';
import { join } from 'node:path';
import { readProtoPath, compileProtoFiles } from '../../nodes/src/protos/load.ts';
import { exitOnSignal } from './args.ts';

const root = compileProtoFiles(readProtoPath(join(import.meta.dirname, '..', '..', 'proto', 'users', 'v1', 'users.proto'), process.cwd()));
const Req = root.lookupType('users.v1.GetUserRequest');
const User = root.lookupType('users.v1.User');
const reply = Buffer.from(User.encode({ id: 1, name: 'Ada Lovelace', email: 'ada@example.com' }).finish());

const server = new grpc.Server();
server.addService({
  GetUser: {
    path: '/users.v1.Users/GetUser', requestStream: false, responseStream: false,
    requestDeserialize: (b: Buffer) => Req.decode(b), requestSerialize: (m: unknown) => Buffer.from(Req.encode(m as object).finish()),
    responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b,
  },
} as grpc.ServiceDefinition, { GetUser: (_call: unknown, cb: (e: null, r: Buffer) => void) => cb(null, reply) } as grpc.UntypedServiceImplementation);
server.bindAsync(`127.0.0.1:${Number(process.argv[2])}`, grpc.ServerCredentials.createInsecure(), (err) => { if (err) throw err; });
exitOnSignal();
