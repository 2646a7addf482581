/**
 * Launcher for the protocol bench rows (bench/protocols.ts): starts the row's own upstream
 * (a @grpc/grpc-js unary echo, or the python3-websockets echo) and, for the gatehouse rows,
 * the real gatehouse CLI in front of it on PORT. Children share this process group, so the
 * harness stops them together. The upstream runs with the affinity of the whole machine (not
 * the proxy's pinned core) in the direct and the gatehouse row alike, so in both rows it does
 * not compete with what is measured for that core.
 *
 *   protocol-upstream.ts grpc-direct|gatehouse-grpc|ws-direct|gatehouse-ws PORT STATUSPORT DIR
 *   protocol-upstream.ts grpc-echo PORT     (the echo alone; started by the modes above)
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { stringify } from 'yaml';

const [mode, portArg, statusArg, dir] = process.argv.slice(2) as [string, string, string, string];
const port = Number(portArg);
const ROOT = join(import.meta.dirname, '..', '..');

function freePort(): Promise<number> {
  return new Promise((resolve) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); }); });
}

async function grpcEcho(p: number): Promise<void> {
  const server = new grpc.Server();
  const id = (b: Buffer): Buffer => b;
  server.addService({ Unary: { path: '/bench.Echo/Unary', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id } } as unknown as grpc.ServiceDefinition,
    { Unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => { cb(null, call.request); } } as unknown as grpc.UntypedServiceImplementation);
  await new Promise<void>((resolve, reject) => server.bindAsync(`127.0.0.1:${p}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
}

/** Run a command on every core (taskset undoes the proxy core pin inherited from the harness). */
function unpinned(cmd: string, args: string[]): void {
  const all = `0-${os.cpus().length - 1}`;
  spawn('taskset', ['-c', all, cmd, ...args], { stdio: 'inherit' }).once('error', () => { spawn(cmd, args, { stdio: 'inherit' }); });
}

function wsEcho(p: number): void {
  unpinned('/usr/bin/python3', [join(ROOT, 'test', 'protocols', 'ws.py'), 'server', String(p)]);
}

function grpcChild(p: number): void {
  unpinned(process.execPath, [import.meta.filename, 'grpc-echo', String(p)]);
}

function gatehouse(upstream: string, websocket: boolean): void {
  const file = join(dir, `${mode}.yaml`);
  writeFileSync(file, stringify({
    node: { listen: `127.0.0.1:${port}`, status: `127.0.0.1:${statusArg}`, workers: 1, http2: { cleartext: true }, log: { level: 'warn', access: { enabled: true, sample: 0.01 } } },
    upstreams: { up: { targets: [{ url: upstream }] } },
    routes: { all: { match: { paths: ['/*'] }, upstream: 'up', ...(websocket ? { websocket: true } : {}) } },
  }));
  const child = spawn(process.execPath, [join(ROOT, 'nodes', 'bin', 'gatehouse.js'), 'start', '--config', file], { stdio: 'inherit' });
  child.once('exit', (code) => process.exit(code ?? 1));
}

switch (mode) {
  case 'grpc-echo': await grpcEcho(port); break;
  case 'grpc-direct': grpcChild(port); break;
  case 'gatehouse-grpc': { const p = await freePort(); grpcChild(p); gatehouse(`h2c://127.0.0.1:${p}`, false); break; }
  case 'ws-direct': wsEcho(port); break;
  case 'gatehouse-ws': { const p = await freePort(); wsEcho(p); gatehouse(`http://127.0.0.1:${p}`, true); break; }
  default: console.error(`unknown mode ${mode}`); process.exit(2);
}
