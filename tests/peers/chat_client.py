"""A tiny scripted chat client for tests/chat_peers.rs (Python `websockets`, plus a raw-socket
member that never answers pings). Runs its arguments as steps, in order, and prints one JSON line
per step that yields something:

  open NAME URL        connect with websockets (answers pings; no keepalive pings of its own)
  open401 URL          connect; prints {"step":"open401","status":CODE} (the HTTP refusal, or 101)
  silent NAME URL      raw-socket handshake, then never reads: no pong ever goes back
  send NAME TEXT       send a text frame
  recv NAME            wait (5 s at most) for one frame: {"step":"recv","conn":NAME,"frame":TEXT}
  closed NAME          wait (10 s at most) until the server closes: {"step":"closed","conn":NAME,
                       "code":N,"reason":"..."}; a silent member reads its frames for the close
  count NAME SECONDS   read frames for SECONDS: {"step":"count","conn":NAME,"frames":N,
                       "messages":M (envelopes, "type":"message"),"contents":[their content]}
  close NAME           close with 1000
  sleep SECONDS
  http METHOD URL BODY plain HTTP request: {"step":"http","status":N,"body":{..}}
"""

import asyncio
import base64
import json
import os
import struct
import sys
import urllib.request
from urllib.parse import urlsplit

import websockets
from websockets.asyncio.client import connect


def out(obj):
    print(json.dumps(obj), flush=True)


async def silent_open(url):
    u = urlsplit(url)
    reader, writer = await asyncio.open_connection(u.hostname, u.port)
    key = base64.b64encode(os.urandom(16)).decode()
    path = u.path + ("?" + u.query if u.query else "")
    writer.write(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path, u.hostname, u.port, key)).encode())
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer


async def silent_closed(reader):
    """Reads frames (pings included, never answered) until a close frame: (code, reason)."""
    while True:
        b0, b1 = await reader.readexactly(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", await reader.readexactly(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", await reader.readexactly(8))[0]
        payload = await reader.readexactly(n)
        if b0 & 0x0F == 8:
            code = struct.unpack(">H", payload[:2])[0] if n >= 2 else 1005
            return code, payload[2:].decode("utf-8", "replace")


async def main(steps):
    conns = {}
    i = 0
    while i < len(steps):
        s = steps[i]
        if s == "open":
            conns[steps[i + 1]] = await connect(steps[i + 2], ping_interval=None, max_size=1 << 22)
            i += 3
        elif s == "open401":
            try:
                c = await connect(steps[i + 1], ping_interval=None)
                await c.close()
                out({"step": "open401", "status": 101})
            except websockets.InvalidStatus as e:
                out({"step": "open401", "status": e.response.status_code})
            i += 2
        elif s == "silent":
            conns[steps[i + 1]] = await silent_open(steps[i + 2])
            i += 3
        elif s == "send":
            await conns[steps[i + 1]].send(steps[i + 2])
            i += 3
        elif s == "recv":
            try:
                f = await asyncio.wait_for(conns[steps[i + 1]].recv(), 5)
                out({"step": "recv", "conn": steps[i + 1], "frame": f if isinstance(f, str) else f.hex()})
            except (asyncio.TimeoutError, websockets.ConnectionClosed) as e:
                out({"step": "recv", "conn": steps[i + 1], "frame": None, "error": type(e).__name__})
            i += 2
        elif s == "closed":
            c = conns[steps[i + 1]]
            if isinstance(c, tuple):
                code, reason = await asyncio.wait_for(silent_closed(c[0]), 10)
            else:
                try:
                    await asyncio.wait_for(c.wait_closed(), 10)
                except asyncio.TimeoutError:
                    pass
                code, reason = c.close_code, c.close_reason
            out({"step": "closed", "conn": steps[i + 1], "code": code, "reason": reason})
            i += 2
        elif s == "count":
            c, n, contents = conns[steps[i + 1]], 0, []
            loop = asyncio.get_running_loop()
            until = loop.time() + float(steps[i + 2])
            while (left := until - loop.time()) > 0:
                try:
                    f = await asyncio.wait_for(c.recv(), left)
                except (asyncio.TimeoutError, websockets.ConnectionClosed):
                    break
                n += 1
                try:
                    m = json.loads(f)
                    if isinstance(m, dict) and m.get("type") == "message":
                        contents.append(m.get("content"))
                except ValueError:
                    pass
            out({"step": "count", "conn": steps[i + 1], "frames": n, "messages": len(contents), "contents": contents})
            i += 3
        elif s == "close":
            await conns[steps[i + 1]].close()
            i += 2
        elif s == "sleep":
            await asyncio.sleep(float(steps[i + 1]))
            i += 2
        elif s == "http":
            req = urllib.request.Request(steps[i + 2], data=steps[i + 3].encode() or None, method=steps[i + 1])
            try:
                with urllib.request.urlopen(req, timeout=5) as r:
                    status, body = r.status, r.read()
            except urllib.error.HTTPError as e:
                status, body = e.code, e.read()
            out({"step": "http", "status": status, "body": json.loads(body or b"null")})
            i += 4
        else:
            sys.exit("chat_client.py: unknown step %r" % s)
    for c in conns.values():
        if isinstance(c, tuple):
            c[1].close()
        else:
            await c.close()


asyncio.run(main(sys.argv[1:]))
