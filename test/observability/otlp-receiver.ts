/**
 * A small OTLP/HTTP traces receiver for tests: POST /v1/traces with an
 * application/x-protobuf ExportTraceServiceRequest, decoded with protobufjs from the .proto
 * in test/fixtures/otlp (independent of the gateway's own encoder). Modes: accept, refuse
 * (503) or hang (never answer).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import protobuf from 'protobufjs';

const PROTO = new URL('../fixtures/otlp/trace.proto', import.meta.url).pathname;

export interface DecodedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  traceState: string;
  name: string;
  kind: number;
  startNs: bigint;
  endNs: bigint;
  attributes: Record<string, unknown>;
  events: Array<{ name: string; attributes: Record<string, unknown> }>;
  status: { code: number; message: string };
  resource: Record<string, unknown>;
}

export interface Receiver {
  url: string;
  spans: DecodedSpan[];
  requests: number;
  mode: 'accept' | 'refuse' | 'hang';
  close(): Promise<void>;
}

type Msg = Record<string, any>;

function kv(list: Msg[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const a of list ?? []) {
    const v = a.value ?? {};
    out[a.key] = v.stringValue ?? v.boolValue ?? (v.intValue !== undefined ? Number(v.intValue) : undefined) ?? v.doubleValue;
  }
  return out;
}

const hex = (b: Uint8Array | undefined): string => (b && b.length ? Buffer.from(b).toString('hex') : '');

export async function startReceiver(): Promise<Receiver> {
  const root = await protobuf.load(PROTO);
  const Request = root.lookupType('otlp.ExportTraceServiceRequest');
  const held: http.ServerResponse[] = [];
  const r: Receiver = { url: '', spans: [], requests: 0, mode: 'accept', close: async () => undefined };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      r.requests++;
      if (r.mode === 'hang') { held.push(res); return; }
      if (r.mode === 'refuse') { res.writeHead(503).end(); return; }
      if (req.url !== '/v1/traces' || req.headers['content-type'] !== 'application/x-protobuf') { res.writeHead(415).end(); return; }
      const msg = Request.toObject(Request.decode(Buffer.concat(chunks)), { longs: String, bytes: Array }) as Msg;
      for (const rs of msg.resourceSpans ?? []) {
        const resource = kv(rs.resource?.attributes);
        for (const ss of rs.scopeSpans ?? []) for (const s of ss.spans ?? []) {
          r.spans.push({
            traceId: hex(s.traceId), spanId: hex(s.spanId), parentSpanId: hex(s.parentSpanId), traceState: s.traceState ?? '',
            name: s.name, kind: s.kind ?? 0, startNs: BigInt(s.startTimeUnixNano ?? 0), endNs: BigInt(s.endTimeUnixNano ?? 0),
            attributes: kv(s.attributes),
            events: (s.events ?? []).map((e: Msg) => ({ name: e.name, attributes: kv(e.attributes) })),
            status: { code: s.status?.code ?? 0, message: s.status?.message ?? '' },
            resource,
          });
        }
      }
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
  r.close = async () => {
    for (const res of held) res.destroy();
    server.closeAllConnections();
    await new Promise<void>((ok) => server.close(() => ok()));
  };
  return r;
}
