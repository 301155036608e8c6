"""A JSON group chat app in Python `websockets` (not written by stampede), the kind of target of
use case 004 and issue 15: users connect, join groups, send messages; the server relays each one
to every member of the group inside a JSON envelope, pings every member and drops the ones whose
pong is late. Also a raw relay (`/ws/chat?room=R`) for the current `stampede ws --rooms`.

Protocol (text frames, JSON):
  connect  ws://HOST:PORT/ws/u{N}  or  /ws/chat?user=NAME      (user from the path or query)
  -> {"type":"join","group_id":"g7"}             <- {"type":"joined","group_id":"g7","members":K}
  -> {"type":"leave","group_id":"g7"}            <- {"type":"left","group_id":"g7","members":K}
  -> {"type":"message","group_id":"g7","content":"..."}
       every member of g7 (the sender too unless --no-echo-self) gets
       <- {"type":"message","group_id":"g7","from":"u3","content":"...","ts":<server ms>}
       not a member: <- {"type":"error","detail":"not a member of g7"}
  anything else (not JSON, binary, unknown type)  <- {"type":"error","detail":"..."}
  raw relay: ws://HOST:PORT/ws/chat?room=R: every message (text or binary) goes as-is to every
  member of R, the sender included (no JSON, no --drop-every).
HTTP on the same port: POST /groups (body {"name": ".."} optional) -> 201 {"group_id":"g<k>"};
  GET /groups/<id> -> {"group_id", "name", "members"} (404 unknown); POST /login
  {"user":"u1","password":"x"} -> {"token":"..."}. With --require-token a websocket connect
  needs ?token=T or "Authorization: Bearer T" of a login, else HTTP 401.
Keepalive: websockets' own ping_interval/ping_timeout (a late pong: close 1011 "keepalive ping
timeout"). Faults: --drop-every N drops every N-th relay delivery (server-wide count, JSON
mode); --close-after-ms MS closes each member MS after it connected with --close-code.

Websockets reads no HTTP request body, so a small asyncio front owns the port: requests with
`Upgrade: websocket` are piped byte for byte to the websockets server (on a Unix socket, where
its process_request checks path and token); other requests are the HTTP API.

Stats (stdout and --stats FILE, JSON lines): {"event":"listening","port":N} first; one
{"event":"session",...} per closed websocket: mode, user, frames_rcvd, messages_rcvd (chat
messages of JSON mode, every message in raw mode), relayed (messages relayed), deliveries (frames
sent to this member by relays), dropped (its deliveries dropped by --drop-every), errors_sent,
pings_sent, pongs_rcvd, close_rcvd/close_sent (codes or null), close_code; on SIGTERM a
{"event":"summary",...} with the totals and "groups": {group id: most members it had at once}.
"""

import argparse
import asyncio
import json
import os
import secrets
import signal
import tempfile
import time
from urllib.parse import parse_qs, urlsplit

import websockets
from websockets.asyncio.server import ServerConnection, unix_serve

import peerlib

A = None
GROUPS = {}  # group id -> {"name": str, "members": set of Member}
ROOMS = {}  # raw room -> set of Member
TOKENS = set()
TOTAL = {"sessions": 0, "frames_rcvd": 0, "messages_rcvd": 0, "relayed": 0, "deliveries": 0, "dropped": 0,
         "errors_sent": 0, "pings_sent": 0, "pongs_rcvd": 0, "http_requests": 0, "deliveries_seen": 0}


class Conn(ServerConnection):
    """Counts websockets' own keepalive pings and the pongs that answer them."""

    pings_sent = 0
    pongs_rcvd = 0

    async def ping(self, data=None):
        self.pings_sent += 1
        return await super().ping(data)

    def acknowledge_pings(self, data):
        if data in self.pending_pings:
            self.pongs_rcvd += 1
        super().acknowledge_pings(data)


class Member:
    def __init__(self, ws, user, mode):
        self.ws, self.user, self.mode = ws, user, mode
        self.c = {"frames_rcvd": 0, "messages_rcvd": 0, "relayed": 0, "deliveries": 0, "dropped": 0, "errors_sent": 0}
        self.groups = set()

    def deliver(self, data):
        """Queues one relay delivery (dropped when --drop-every says so)."""
        TOTAL["deliveries_seen"] += 1
        if A.drop_every and TOTAL["deliveries_seen"] % A.drop_every == 0:
            self.c["dropped"] += 1
            return
        self.c["deliveries"] += 1
        asyncio.ensure_future(self._send(data))

    async def _send(self, data):
        try:
            await self.ws.send(data)
        except websockets.ConnectionClosed:
            pass

    async def error(self, detail):
        self.c["errors_sent"] += 1
        await self._send(json.dumps({"type": "error", "detail": detail}))


def route(path):
    """(mode, user or room) of a websocket path, or None (404)."""
    u = urlsplit(path)
    q = parse_qs(u.query)
    if u.path == "/ws/chat" and "room" in q:
        return "raw", q["room"][0]
    if u.path in ("/ws/chat", "/ws/chat/json"):
        return "json", q.get("user", ["anon"])[0]
    if u.path.startswith("/ws/") and len(u.path) > 4 and "/" not in u.path[4:]:
        return "json", u.path[4:]
    return None


def process_request(conn, request):
    if route(request.path) is None:
        return conn.respond(404, "no websocket route %s\n" % request.path)
    if A.require_token:
        q = parse_qs(urlsplit(request.path).query)
        token = q.get("token", [None])[0]
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            token = auth[7:].strip()
        if token not in TOKENS:
            return conn.respond(401, "a valid token is required\n")
    return None


async def handler(ws):
    mode, name = route(ws.request.path)
    me = Member(ws, name, mode)
    TOTAL["sessions"] += 1
    opened = time.monotonic()
    closer = None
    if A.close_after_ms:
        async def close_later():
            await asyncio.sleep(A.close_after_ms / 1000)
            await ws.close(A.close_code, "close-after-ms")
        closer = asyncio.ensure_future(close_later())
    if mode == "raw":
        ROOMS.setdefault(name, set()).add(me)
    try:
        async for msg in ws:
            me.c["frames_rcvd"] += 1
            if mode == "raw":
                me.c["messages_rcvd"] += 1
                me.c["relayed"] += 1
                for m in list(ROOMS.get(name, ())):
                    m.c["deliveries"] += 1
                    asyncio.ensure_future(m._send(msg))
                continue
            await on_json(me, msg)
    except websockets.ConnectionClosed:
        pass
    finally:
        if closer:
            closer.cancel()
        if mode == "raw":
            ROOMS.get(name, set()).discard(me)
        for g in me.groups:
            GROUPS[g]["members"].discard(me)
    await ws.wait_closed()
    proto = ws.protocol
    rcvd, sent = proto.close_rcvd, proto.close_sent
    line = {"event": "session", "mode": mode, "user" if mode == "json" else "room": name, **me.c,
            "pings_sent": ws.pings_sent, "pongs_rcvd": ws.pongs_rcvd,
            "close_rcvd": rcvd.code if rcvd else None, "close_sent": sent.code if sent else None,
            "close_reason": sent.reason if sent else None, "close_code": ws.close_code,
            "duration_s": round(time.monotonic() - opened, 3)}
    for k in me.c:
        TOTAL[k] += me.c[k]
    TOTAL["pings_sent"] += ws.pings_sent
    TOTAL["pongs_rcvd"] += ws.pongs_rcvd
    peerlib.emit(line)


async def on_json(me, msg):
    if isinstance(msg, bytes):
        return await me.error("binary frames are not JSON")
    try:
        m = json.loads(msg)
        kind, gid = m["type"], m.get("group_id")
    except (ValueError, KeyError, TypeError, AttributeError):
        return await me.error("not a JSON chat frame")
    if kind == "join":
        g = GROUPS.setdefault(gid, {"name": gid, "members": set()})  # joining creates it, as chat apps do
        g["members"].add(me)
        g["peak"] = max(g.get("peak", 0), len(g["members"]))
        me.groups.add(gid)
        await me._send(json.dumps({"type": "joined", "group_id": gid, "members": len(g["members"])}))
    elif kind == "leave":
        g = GROUPS.get(gid)
        if g:
            g["members"].discard(me)
        me.groups.discard(gid)
        await me._send(json.dumps({"type": "left", "group_id": gid, "members": len(g["members"]) if g else 0}))
    elif kind == "message":
        me.c["messages_rcvd"] += 1
        if gid not in me.groups:
            return await me.error("not a member of %s" % gid)
        env = json.dumps({"type": "message", "group_id": gid, "from": me.user, "content": m.get("content"),
                          "ts": int(time.time() * 1000)})
        me.c["relayed"] += 1
        for other in list(GROUPS[gid]["members"]):
            if other is not me or A.echo_self:
                other.deliver(env)
    else:
        await me.error("unknown type %r" % (kind,))


# --- the front: HTTP API, and websocket upgrades piped to websockets -------------------------

def http_answer(writer, status, obj, keep):
    body = json.dumps(obj).encode()
    reason = {200: "OK", 201: "Created", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}[status]
    writer.write(b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n"
                 % (status, reason.encode(), len(body), b"" if keep else b"Connection: close\r\n") + body)


def api(method, path, body):
    TOTAL["http_requests"] += 1
    try:
        data = json.loads(body) if body.strip() else {}
    except ValueError:
        return 400, {"detail": "body is not JSON"}
    p = urlsplit(path).path
    if method == "POST" and p == "/groups":
        gid = "g%d" % (len(GROUPS) + 1)
        while gid in GROUPS:
            gid += "x"
        GROUPS[gid] = {"name": (data or {}).get("name", gid), "members": set()}
        return 201, {"group_id": gid}
    if method == "GET" and p.startswith("/groups/"):
        g = GROUPS.get(p[len("/groups/"):])
        if g is None:
            return 404, {"detail": "no such group"}
        return 200, {"group_id": p[len("/groups/"):], "name": g["name"], "members": len(g["members"])}
    if method == "POST" and p == "/login":
        if not isinstance(data, dict) or not data.get("user"):
            return 400, {"detail": "user required"}
        token = secrets.token_hex(12)
        TOKENS.add(token)
        return 200, {"token": token}
    if method == "GET" and p == "/stats":
        return 200, TOTAL
    return 404, {"detail": "no route %s %s" % (method, p)}


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def front(reader, writer, sock_path):
    try:
        while True:  # bounded by the client: one request per turn, keep-alive
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:] if ":" in l)}
            if headers.get("upgrade", "").lower() == "websocket":
                ur, uw = await asyncio.open_unix_connection(sock_path)
                uw.write(head)
                await asyncio.gather(pipe(reader, uw), pipe(ur, writer))
                return
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            status, obj = api(method, path, body.decode("utf-8", "replace"))
            keep = headers.get("connection", "").lower() != "close"
            http_answer(writer, status, obj, keep)
            await writer.drain()
            if not keep:
                break
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
        pass
    writer.close()


async def main():
    global A
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0: any free port (printed)")
    ap.add_argument("--stats", help="append the JSON event lines to this file too")
    ap.add_argument("--ping-interval", type=float, default=20.0, help="seconds between server pings (0: none)")
    ap.add_argument("--ping-timeout", type=float, default=20.0, help="seconds a pong may take before close 1011")
    ap.add_argument("--echo-self", action=argparse.BooleanOptionalAction, default=True,
                    help="JSON mode: the sender gets its own envelope too (default on)")
    ap.add_argument("--require-token", action="store_true", help="websocket connects need a /login token")
    ap.add_argument("--drop-every", type=int, default=0, help="drop every N-th relay delivery (JSON mode)")
    ap.add_argument("--close-after-ms", type=int, default=0, help="close each member this long after it connects")
    ap.add_argument("--close-code", type=int, default=1008, help="the code of --close-after-ms (1008, 1013...)")
    A = ap.parse_args()
    peerlib._stats_file = A.stats
    sock_dir = tempfile.mkdtemp(prefix="stampede-chat-")
    sock_path = os.path.join(sock_dir, "ws.sock")
    interval = A.ping_interval or None
    ws_server = await unix_serve(handler, sock_path, process_request=process_request, create_connection=Conn,
                                 ping_interval=interval, ping_timeout=A.ping_timeout if interval else None,
                                 max_size=1 << 22)
    server = await asyncio.start_server(lambda r, w: front(r, w, sock_path), A.host, A.port, limit=1 << 16)
    port = server.sockets[0].getsockname()[1]
    peerlib.emit({"event": "listening", "server": "chat_server.py", "port": port, "websockets": websockets.__version__})
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    await stop
    server.close()
    ws_server.close()
    try:
        await asyncio.wait_for(ws_server.wait_closed(), 2)
    except asyncio.TimeoutError:
        pass
    peerlib.emit({"event": "summary", **TOTAL, "groups": {k: g.get("peak", 0) for k, g in GROUPS.items()}})
    try:
        os.unlink(sock_path)
        os.rmdir(sock_dir)
    except OSError:
        pass


asyncio.run(main())
