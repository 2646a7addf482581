"""WebSocket echo load for the bench (python3-websockets): C connections, each sending a
32-byte message and waiting for its echo, for D seconds. Prints JSON: messages/s and the
round-trip p50/p99 in ms. Usage: ws-load.py URL CONNECTIONS SECONDS"""
import asyncio
import json
import sys
import time

import websockets


async def one(url, until, lat):
    async with websockets.connect(url, compression=None, max_queue=None) as ws:
        msg = 'x' * 32
        while time.perf_counter() < until:
            t0 = time.perf_counter()
            await ws.send(msg)
            await ws.recv()
            lat.append(time.perf_counter() - t0)


async def main():
    url, c, d = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    lat = []
    t0 = time.perf_counter()
    until = t0 + d
    errors = 0
    for r in await asyncio.gather(*[one(url, until, lat) for _ in range(c)], return_exceptions=True):
        if isinstance(r, Exception):
            errors += 1
    el = time.perf_counter() - t0
    lat.sort()
    q = lambda p: (lat[min(len(lat) - 1, int(p * len(lat)))] * 1000) if lat else 0
    print(json.dumps({'rps': len(lat) / el, 'requests': len(lat), 'p50Ms': q(0.5), 'p99Ms': q(0.99), 'socketErrors': errors, 'non2xx': 0}))


asyncio.run(main())
