/**
 * A real @grpc/grpc-js server for the conversion tests: the example services of proto/
 * implemented in-process, messages (de)serialised with protobufjs from the same sources
 * the gateway reads. Each method's behaviour is what the tests assert on.
 */
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { readProtoPath, compileProtoFiles } from '../../nodes/src/protos/load.ts';

export const BOOKSTORE = 'proto/bookstore/v1/bookstore.proto';
export const USERS = 'proto/users/v1/users.proto';

export function loadRoot(path: string): protobuf.Root {
  return compileProtoFiles(readProtoPath(path, process.cwd()));
}

type Handler = (call: any, cb?: any) => void;

/** A service definition whose handlers see plain objects (64-bit as strings, enums as numbers). */
function definition(root: protobuf.Root, service: string, raw: ReadonlySet<string> = new Set()): grpc.ServiceDefinition {
  const svc = root.lookupService(service);
  const def: Record<string, grpc.MethodDefinition<any, any>> = {};
  for (const m of svc.methodsArray) {
    m.resolve();
    const req = m.resolvedRequestType!, res = m.resolvedResponseType!;
    const isRaw = raw.has(m.name);
    def[m.name] = {
      path: `/${service}/${m.name}`,
      requestStream: !!m.requestStream,
      responseStream: !!m.responseStream,
      requestDeserialize: isRaw ? (b: Buffer) => b : (b: Buffer) => req.toObject(req.decode(b), { longs: String, enums: Number, defaults: false }),
      requestSerialize: (o: any) => Buffer.from(req.encode(req.fromObject(o)).finish()),
      responseSerialize: isRaw ? (b: Buffer) => b : (o: any) => Buffer.from(res.encode(res.fromObject(o)).finish()),
      responseDeserialize: (b: Buffer) => res.toObject(res.decode(b)),
      originalName: m.name,
    } as grpc.MethodDefinition<any, any>;
  }
  return def;
}

export interface Seen { covers: Array<{ content_type: string; data: Buffer }>; metadata: grpc.Metadata[]; deleted: string[]; cancelled: string[] }

function md(call: any, seen: Seen): void {
  seen.metadata.push(call.metadata);
  const tenant = call.metadata.get('x-tenant')[0];
  const out = new grpc.Metadata();
  out.set('x-served-by', 'grpc-js');
  if (tenant !== undefined) out.set('x-tenant-echo', String(tenant));
  call.sendMetadata(out);
}

function bookstore(root: protobuf.Root, seen: Seen): Record<string, Handler> {
  const status = root.lookupType('google.rpc.Status');
  const badRequest = root.lookupType('google.rpc.BadRequest');
  return {
    ListShelves(call, cb) { md(call, seen); cb(null, { shelves: [{ id: '1', theme: 'fiction' }, { id: '2', theme: 'history' }] }); },
    CreateShelf(call, cb) { md(call, seen); cb(null, { ...call.request.shelf, id: '99', created: { seconds: '1700000000', nanos: 500000000 } }); },
    GetShelf(call, cb) {
      md(call, seen);
      if (call.request.shelf === '404') return cb({ code: grpc.status.NOT_FOUND, details: 'shelf 404 does not exist' });
      if (call.request.shelf === '7') return setTimeout(() => cb(null, { id: '7' }), 3000);
      cb(null, { id: call.request.shelf, theme: `theme-${call.request.shelf}` });
    },
    DeleteShelf(call, cb) { md(call, seen); seen.deleted.push(call.request.shelf); cb(null, {}); },
    GetBook(call, cb) { md(call, seen); cb(null, { id: '2', shelf: '1', title: call.request.name, genre: 1 }); },
    UpdateBook(call, cb) { md(call, seen); cb(null, { ...call.request.book, author: (call.request.update_mask?.paths ?? []).join(',') }); },
    SearchBooks(call, cb) { md(call, seen); cb(null, { echo: call.request }); },
    PublishBook(call, cb) { md(call, seen); cb(null, { title: call.request.name, tags: [String(call.request.when?.seconds ?? ''), String(call.request.when?.nanos ?? '')] }); },
    PurgeShelf(call, cb) { md(call, seen); cb(null, { shelf: call.request.shelf, purged: 3 }); },
    GetCover(call, cb) { md(call, seen); cb(null, { content_type: 'image/png', data: Buffer.from(`PNG ${call.request.shelf}/${call.request.book}`) }); },
    PutCover(call, cb) { md(call, seen); seen.covers.push(call.request.cover); cb(null, {}); },
    GetBookEnvelope(call, cb) { md(call, seen); cb(null, { book: { title: call.request.name, pages: 0 }, etag: 'v1' }); },
    WatchShelf(call) {
      md(call, seen);
      if (call.request.shelf === '99') { // endless, until the caller cancels
        let i = 0;
        const timer = setInterval(() => call.write({ id: String(++i), shelf: '99', title: `tick ${i}` }), 20);
        call.on('cancelled', () => { clearInterval(timer); seen.cancelled.push('99'); });
        return;
      }
      const n = call.request.shelf === '13' ? 2 : 3;
      for (let i = 1; i <= n; i++) call.write({ id: String(i), shelf: call.request.shelf, title: `book ${i}` });
      if (call.request.shelf === '13') call.emit('error', { code: grpc.status.ABORTED, details: 'shelf 13 burned down' });
      else call.end();
    },
    ImportBooks(call, cb) {
      md(call, seen);
      const titles: string[] = [];
      call.on('data', (b: any) => titles.push(b.title));
      call.on('end', () => cb(null, { count: titles.length, titles }));
    },
    Echo(call, cb) { md(call, seen); cb(null, call.request); }, // raw bytes: exactly what the gateway sent
    Fail(call, cb) {
      md(call, seen);
      const trailer = new grpc.Metadata();
      if (call.request.with_details) {
        const detail = { type_url: 'type.googleapis.com/google.rpc.BadRequest', value: badRequest.encode(badRequest.fromObject({ field_violations: [{ field: 'title', description: 'must not be empty' }] })).finish() };
        trailer.set('grpc-status-details-bin', Buffer.from(status.encode(status.fromObject({ code: call.request.code, message: call.request.message, details: [detail] })).finish()));
      }
      trailer.set('x-failure', 'yes');
      cb({ code: call.request.code, details: call.request.message, metadata: trailer });
    },
  };
}

function users(seen: Seen): Record<string, Handler> {
  const all = [{ id: '1', name: 'Ada', email: 'ada@example.com' }, { id: '2', name: 'Grace', email: 'grace@example.com' }];
  return {
    GetUser(call, cb) {
      md(call, seen);
      const u = all.find((x) => x.id === call.request.id);
      if (!u) return cb({ code: grpc.status.NOT_FOUND, details: `user ${call.request.id} not found` });
      cb(null, { ...u, created_at: { seconds: '1700000000' } });
    },
    CreateUser(call, cb) { md(call, seen); cb(null, { ...call.request.user, id: '3' }); },
    ListUsers(call, cb) { md(call, seen); cb(null, { users: all.slice(0, call.request.page_size || all.length) }); },
    StreamUsers(call) { md(call, seen); for (const u of all) call.write(u); call.end(); },
  };
}

export interface GrpcServer { port: number; url: string; seen: Seen; stop(): Promise<void> }

export async function startGrpcServer(): Promise<GrpcServer> {
  const server = new grpc.Server();
  const seen: Seen = { covers: [], metadata: [], deleted: [], cancelled: [] };
  const br = loadRoot(BOOKSTORE);
  server.addService(definition(br, 'bookstore.v1.Bookstore', new Set(['Echo'])), bookstore(br, seen) as grpc.UntypedServiceImplementation);
  server.addService(definition(loadRoot(USERS), 'users.v1.Users'), users(seen) as grpc.UntypedServiceImplementation);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return {
    port, seen,
    url: `http://127.0.0.1:${port}`,
    stop: () => new Promise<void>((r) => server.tryShutdown(() => r())),
  };
}
