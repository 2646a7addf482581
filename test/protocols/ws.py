"""WebSocket peers for the tunnel tests (Debian's python3-websockets, the 10.x API).

  ws.py server [PORT]     echo server (on a free port by default); prints the port, then serves
  ws.py client URL CMD    CMD: echo (3 messages), hold (open, wait for the server's close),
                          bench N (N echoes, prints seconds); headers as extra args k=v
"""
import asyncio
import json
import sys
import time

import websockets


async def serve():
    async def echo(ws, _path=None):
        try:
            async for m in ws:
                await ws.send(m)
        except websockets.ConnectionClosed:
            pass
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    async with websockets.serve(echo, '127.0.0.1', port) as server:
        port = server.sockets[0].getsockname()[1]
        print(port, flush=True)
        await asyncio.Future()


async def client(url, cmd, rest):
    headers = [tuple(kv.split('=', 1)) for kv in rest if '=' in kv]
    try:
        async with websockets.connect(url, extra_headers=headers, open_timeout=10) as ws:
            if cmd == 'echo':
                got = []
                for m in ['one', 'two', b'\x00\x01three']:
                    await ws.send(m)
                    r = await ws.recv()
                    got.append(r if isinstance(r, str) else r.hex())
                print(json.dumps({'ok': True, 'got': got}), flush=True)
            elif cmd == 'hold':
                print(json.dumps({'ok': True, 'open': True}), flush=True)
                try:
                    await asyncio.wait_for(ws.recv(), 30)
                except websockets.ConnectionClosed as e:
                    print(json.dumps({'ok': True, 'closed': e.code}), flush=True)
            elif cmd == 'bench':
                n = int(rest[0])
                t0 = time.time()
                for _ in range(n):
                    await ws.send('x' * 32)
                    await ws.recv()
                print(json.dumps({'ok': True, 'n': n, 'seconds': time.time() - t0}), flush=True)
    except websockets.InvalidStatusCode as e:
        print(json.dumps({'ok': False, 'status': e.status_code}), flush=True)
    except Exception as e:  # noqa: BLE001 - report what the client saw
        print(json.dumps({'ok': False, 'error': type(e).__name__}), flush=True)


if sys.argv[1] == 'server':
    asyncio.run(serve())
else:
    asyncio.run(client(sys.argv[2], sys.argv[3], sys.argv[4:]))
