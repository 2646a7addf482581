"""A gRPC client (Debian's python3-grpcio) for the gRPC pass-through tests.

Raw-bytes methods (no generated code): each scenario prints one JSON line with what the
client saw, so the test reads real client behaviour. Usage: grpc-client.py HOST:PORT SCENARIO
"""
import json
import sys
import time

import grpc

target, scenario = sys.argv[1], sys.argv[2]
meta = tuple(tuple(kv.split('=', 1)) for kv in sys.argv[3:])
ident = dict(request_serializer=None, response_deserializer=None)


def out(**kw):
    print(json.dumps(kw), flush=True)


def code_of(e):
    return {'code': e.code().value[0], 'name': e.code().name, 'details': e.details()}


with grpc.insecure_channel(target) as ch:
    try:
        if scenario == 'unary':
            r = ch.unary_unary('/test.Echo/Unary', **ident)(b'hello', metadata=meta, timeout=10)
            out(ok=True, reply=r.decode())
        elif scenario == 'unary-trailers':
            r, call = ch.unary_unary('/test.Echo/Unary', **ident).with_call(b'hi', metadata=meta, timeout=10)
            out(ok=True, reply=r.decode(), trailers=dict(call.trailing_metadata()), code=call.code().value[0])
        elif scenario == 'server-stream':
            rs = [m.decode() for m in ch.unary_stream('/test.Echo/ServerStream', **ident)(b'4', metadata=meta, timeout=10)]
            out(ok=True, replies=rs)
        elif scenario == 'client-stream':
            r = ch.stream_unary('/test.Echo/ClientStream', **ident)(iter([b'a', b'b', b'c']), metadata=meta, timeout=10)
            out(ok=True, reply=r.decode())
        elif scenario == 'bidi':
            rs = [m.decode() for m in ch.stream_stream('/test.Echo/Bidi', **ident)(iter([b'x', b'y', b'z']), metadata=meta, timeout=10)]
            out(ok=True, replies=rs)
        elif scenario == 'fail':
            ch.unary_unary('/test.Echo/Fail', **ident)(b'', metadata=meta, timeout=10)
            out(ok=True)
        elif scenario == 'slow':
            t0 = time.time()
            try:
                ch.unary_unary('/test.Echo/Slow', **ident)(b'', metadata=meta, timeout=0.5)
                out(ok=True)
            except grpc.RpcError as e:
                out(ok=False, elapsed=time.time() - t0, **code_of(e))
            sys.exit(0)
        elif scenario == 'cancel':
            call = ch.unary_stream('/test.Echo/Forever', **ident)(b'', metadata=meta, timeout=10)
            got = []
            for m in call:
                got.append(m.decode())
                if len(got) == 2:
                    call.cancel()
                    break
            out(ok=True, replies=got)
        elif scenario == 'unknown':
            ch.unary_unary('/other.Svc/Nothing', **ident)(b'', metadata=meta, timeout=10)
            out(ok=True)
        elif scenario == 'bench':
            n = int(meta[0][1]) if meta else 2000
            f = ch.unary_unary('/test.Echo/Unary', **ident)
            f(b'warm', timeout=10)
            t0 = time.time()
            for _ in range(n):
                f(b'x', timeout=10)
            out(ok=True, n=n, seconds=time.time() - t0)
    except grpc.RpcError as e:
        out(ok=False, **code_of(e))
