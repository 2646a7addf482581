/**
 * Traces of transcoded calls, exported to a real OTLP/HTTP receiver: the request's server
 * span and one client span for the gRPC call (RPC conventions: rpc.system, rpc.service,
 * rpc.method, rpc.grpc.status_code), whose id the gRPC service receives as its parent.
 */
import test from 'ava';
import { startBed, type Bed } from './setup.ts';
import { curl } from './curl.ts';
import { waitFor } from '../helpers/wait.ts';
import { startReceiver, type DecodedSpan, type Receiver } from '../observability/otlp-receiver.ts';

const SERVER = 2;
const CLIENT = 3;
const ERROR = 2;

let rx: Receiver;
let bed: Bed;
test.before(async () => {
  rx = await startReceiver();
  bed = await startBed({}, { node: { tracing: { endpoint: rx.url, sampleRatio: 1, serviceName: 'gh-conv' } } });
});
test.after.always(async () => { await bed?.stop(); await rx?.close(); });

let n = 0;
/** A new sampled trace id per request, so each test reads only its own spans. */
function traceparent(): { trace: string; header: string } {
  const trace = (++n).toString(16).padStart(8, '0') + 'a3ce929d0e0e47364bf92f35';
  return { trace, header: `00-${trace}-00f067aa0ba902b7-01` };
}

async function spansOf(trace: string): Promise<{ server: DecodedSpan; client: DecodedSpan; all: DecodedSpan[] }> {
  const all: DecodedSpan[] = await waitFor(() => {
    const s = rx.spans.filter((x) => x.traceId === trace);
    return s.length >= 2 ? s : undefined;
  }, { timeout: 10_000, message: 'spans exported' });
  return { server: all.find((s) => s.kind === SERVER)!, client: all.find((s) => s.kind === CLIENT)!, all };
}

/** The traceparent the gRPC service received on its last call. */
function lastTraceparent(): string {
  const md = bed.grpc.seen.metadata.at(-1)!;
  return String(md.get('traceparent')[0]);
}

test.serial('a transcoded unary call: server span → client span for the gRPC call → service', async (t) => {
  const tp = traceparent();
  const r = await curl(`${bed.gw.url}/v1/shelves/5`, { headers: { traceparent: tp.header } });
  t.is(r.status, 200, r.body);
  const { server, client, all } = await spansOf(tp.trace);
  t.is(all.length, 2);
  t.is(server.name, 'GET rest');
  t.is(server.attributes['http.response.status_code'], 200);
  t.is(client.name, 'bookstore.v1.Bookstore/GetShelf');
  t.is(client.parentSpanId, server.spanId);
  t.like(client.attributes, {
    'rpc.system': 'grpc', 'rpc.service': 'bookstore.v1.Bookstore', 'rpc.method': 'GetShelf',
    'rpc.grpc.status_code': 0, 'server.address': '127.0.0.1', 'server.port': bed.grpc.port, 'gatehouse.upstream': 'store',
  });
  t.not(client.status.code, ERROR);
  t.true(client.startNs >= server.startNs && client.endNs <= server.endNs);
  t.is(lastTraceparent(), `00-${tp.trace}-${client.spanId}-01`);
});

test.serial('a gRPC error status: the client span is an error with the status code and name', async (t) => {
  const tp = traceparent();
  const r = await curl(`${bed.gw.url}/v1/shelves/404`, { headers: { traceparent: tp.header } });
  t.is(r.status, 404);
  const { server, client } = await spansOf(tp.trace);
  t.is(server.attributes['http.response.status_code'], 404);
  t.is(client.attributes['rpc.method'], 'GetShelf');
  t.is(client.attributes['rpc.grpc.status_code'], 5);
  t.is(client.attributes['error.type'], 'NOT_FOUND');
  t.is(client.status.code, ERROR);
});

test.serial('a server stream: the client span lasts until the stream ends', async (t) => {
  const tp = traceparent();
  const r = await curl(`${bed.gw.url}/v1/shelves/3:watch`, { headers: { traceparent: tp.header } });
  t.is(r.body.trim().split('\n').length, 3);
  const { server, client } = await spansOf(tp.trace);
  t.is(client.name, 'bookstore.v1.Bookstore/WatchShelf');
  t.is(client.attributes['rpc.grpc.status_code'], 0);
  t.is(client.parentSpanId, server.spanId);
  t.true(client.endNs <= server.endNs);
});

test.serial('no target answers: the client span records UNAVAILABLE, the server span the 502', async (t) => {
  const tp = traceparent();
  const r = await curl(`${bed.gw.url}/dead/v1/users/1`, { headers: { traceparent: tp.header } });
  t.is(r.status, 502);
  const { server, client } = await spansOf(tp.trace);
  t.is(client.attributes['rpc.service'], 'users.v1.Users');
  t.is(client.attributes['rpc.grpc.status_code'], 14);
  t.is(client.status.code, ERROR);
  t.is(server.attributes['gatehouse.error_code'], 'GW_UPSTREAM_UNAVAILABLE');
});
