"""An echo server in Python `websockets` (not written here) for `stampede ws` (tests/ws.rs).

Echoes every message; pings every --ping-interval seconds (websockets' keepalive, which closes
with 1011 when a pong is --ping-timeout late). When a connection has closed it writes
{"event": "session", "echoed": N, "close_rcvd": CODE or null, "close_sent": CODE or null}:
the close frame the client sent (null when it only dropped the socket: websockets says 1006).
"""

import argparse
import asyncio

import websockets

import peerlib


async def echo(ws):
    n = 0
    try:
        async for msg in ws:
            await ws.send(msg)
            n += 1
    except websockets.ConnectionClosed:
        pass
    await ws.wait_closed()
    proto = getattr(ws, "protocol", ws)  # websockets >= 13: the sans-I/O protocol holds them
    rcvd, sent = proto.close_rcvd, proto.close_sent
    peerlib.emit({
        "event": "session",
        "echoed": n,
        "close_rcvd": rcvd.code if rcvd else None,
        "close_sent": sent.code if sent else None,
    })


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--stats")
    ap.add_argument("--ping-interval", type=float, default=20.0)
    ap.add_argument("--ping-timeout", type=float, default=20.0)
    a = ap.parse_args()
    peerlib._stats_file = a.stats
    async with websockets.serve(echo, "127.0.0.1", a.port, ping_interval=a.ping_interval, ping_timeout=a.ping_timeout) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        peerlib.emit({"event": "listening", "port": port})
        await asyncio.sleep(60)


asyncio.run(main())
