"""A gRPC server (Debian's python3-grpcio) for the pass-through tests, the other way round
from grpc-client.py: an @grpc/grpc-js client calls it through the gateway.

Raw-bytes methods through a generic handler (no protoc, no generated code):
- /py.Echo/Unary: replies 'py:' + request, with the deadline the server saw (grpc-timeout
  as forwarded) and a trailing metadata entry;
- /py.Echo/ServerStream: the request is a count n; replies 'p0'..'p{n-1}';
- /py.Echo/Fail: aborts with NOT_FOUND, a message needing percent-encoding and a trailer;
- /py.Echo/Slow: sleeps up to 5 s; prints 'SLOW-ENDED <seconds>' when the call ends
  (cancelled by the deadline or finished), so the test sees when the server let go.

Prints 'PORT <n>' once listening on 127.0.0.1; runs until killed.
"""
import json
import sys
import threading
import time
from concurrent import futures

import grpc


def unary(request, context):
    remaining = context.time_remaining()
    context.set_trailing_metadata((('x-py-trailer', 'from-python'),))
    return json.dumps({'reply': 'py:' + request.decode(), 'remaining': remaining}).encode()


def server_stream(request, context):
    for i in range(int(request.decode())):
        yield ('p%d' % i).encode()


def fail(request, context):
    context.set_trailing_metadata((('x-py-trailer', 'failed'),))
    context.abort(grpc.StatusCode.NOT_FOUND, 'no such thing: caf\u00e9 100%')


def slow(request, context):
    t0 = time.time()
    done = threading.Event()
    context.add_callback(done.set)
    done.wait(5)
    print('SLOW-ENDED %.3f active=%s' % (time.time() - t0, context.is_active()), flush=True)
    return b'late'


handler = grpc.method_handlers_generic_handler('py.Echo', {
    'Unary': grpc.unary_unary_rpc_method_handler(unary),
    'ServerStream': grpc.unary_stream_rpc_method_handler(server_stream),
    'Fail': grpc.unary_unary_rpc_method_handler(fail),
    'Slow': grpc.unary_unary_rpc_method_handler(slow),
})

server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
server.add_generic_rpc_handlers((handler,))
port = server.add_insecure_port('127.0.0.1:0')
server.start()
print('PORT %d' % port, flush=True)
try:
    server.wait_for_termination()
except KeyboardInterrupt:
    sys.exit(0)
