"""users.v1.Users (proto/users/v1/users.proto) served by Python grpcio, built at run time with
generic handlers on raw bytes: no generated code, no grpc_tools. The few messages are
encoded and decoded by hand (protobuf wire format: varints and length-delimited fields).
Prints the port it listens on, then serves until a signal ends it."""
from concurrent import futures

import grpc

USERS = {1: ("Ada", "ada@example.com"), 2: ("Grace", "grace@example.com")}


def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def read_varint(buf, i):
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, i


def fields(buf):
    """Yield (number, wire type, value) of a message's fields."""
    i = 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = read_varint(buf, i)
        elif wt == 2:
            n, i = read_varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif wt == 1:
            v, i = buf[i:i + 8], i + 8
        elif wt == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError("bad wire type")
        yield num, wt, v


def user(uid, name, email):
    out = varint(1 << 3 | 0) + varint(uid)
    for num, s in ((2, name), (3, email)):
        b = s.encode()
        out += varint(num << 3 | 2) + varint(len(b)) + b
    return out


def get_user(request, context):
    uid = next((v for n, wt, v in fields(request) if n == 1 and wt == 0), 0)
    if uid not in USERS:
        context.abort(grpc.StatusCode.NOT_FOUND, "no user %d here" % uid)
    tenant = dict(context.invocation_metadata()).get("x-tenant")
    if tenant:
        context.send_initial_metadata((("x-tenant-echo", tenant), ("x-served-by", "python-grpcio")))
    name, email = USERS[uid]
    return user(uid, name, email)


def create_user(request, context):
    inner = next((v for n, wt, v in fields(request) if n == 1 and wt == 2), b"")
    name = next((v.decode() for n, wt, v in fields(inner) if n == 2 and wt == 2), "")
    if not name.strip():
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a user needs a name")
    return user(3, name, "")


def list_users(request, context):
    size = next((v for n, wt, v in fields(request) if n == 1 and wt == 0), 0) or len(USERS)
    out = b""
    for uid in sorted(USERS)[:size]:
        u = user(uid, *USERS[uid])
        out += varint(1 << 3 | 2) + varint(len(u)) + u
    return out


def stream_users(request, context):
    for uid in sorted(USERS):
        yield user(uid, *USERS[uid])


def raw(fn, stream=False):
    ident = lambda b: b
    if stream:
        return grpc.unary_stream_rpc_method_handler(fn, request_deserializer=ident, response_serializer=ident)
    return grpc.unary_unary_rpc_method_handler(fn, request_deserializer=ident, response_serializer=ident)


def main():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("users.v1.Users", {
        "GetUser": raw(get_user),
        "CreateUser": raw(create_user),
        "ListUsers": raw(list_users),
        "StreamUsers": raw(stream_users, stream=True),
    }),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
