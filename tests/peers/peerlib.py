"""Bookkeeping shared by the protocol peers in tests/peers/ (no protocol decisions here).

Each server prints one JSON line per event on stdout (and appends it to --stats FILE):
{"event": "listening", "port": N} once, then {"event": "session", ...} when a connection has
closed: audio bytes and frames received, text messages received, messages sent, and the close
frames received and sent. Speech is told from silence by frame energy (the fake recognizers
need no model): a frame whose RMS is above SPEECH_RMS is speech.
"""

import argparse
import asyncio
import json
import math
import struct
import sys
import time

SPEECH_RMS = 0.02  # of full scale; espeak-ng speech is far above, digital silence is 0

_stats_file = None


def emit(obj):
    line = json.dumps(obj, ensure_ascii=False)
    print(line, flush=True)
    if _stats_file:
        with open(_stats_file, "a", encoding="utf-8") as f:
            f.write(line + "\n")


def rms_pcm16(b):
    n = len(b) // 2
    if n == 0:
        return 0.0
    xs = struct.unpack("<%dh" % n, b[: n * 2])
    return math.sqrt(sum(x * x for x in xs) / n) / 32768.0


def rms_f32(b):
    n = len(b) // 4
    if n == 0:
        return 0.0
    xs = struct.unpack("<%df" % n, b[: n * 4])
    return math.sqrt(sum(x * x for x in xs) / n)


class Words:
    """Fake transcript words: w1 w2 ... one per `every_ms` of speech."""

    def __init__(self, every_ms=300):
        self.every_ms = every_ms
        self.speech_ms = 0.0
        self.n = 0

    def add(self, ms):
        """Adds speech; returns the new words it completes (maybe none)."""
        self.speech_ms += ms
        out = []
        while self.speech_ms >= self.every_ms:
            self.speech_ms -= self.every_ms
            self.n += 1
            out.append("w%d" % self.n)
        return out


class Session:
    def __init__(self, websocket):
        ra = websocket.remote_address
        self.peer = "%s:%s" % (ra[0], ra[1]) if ra else "?"
        self.opened = time.monotonic()
        self.first_audio = None
        self.audio_bytes = 0
        self.audio_frames = 0
        self.dropped_bytes = 0
        self.texts = []
        self.sent = []
        self.error = None
        self.extra = {}
        self.done = asyncio.get_running_loop().create_future()

    def audio(self, b):
        if self.first_audio is None:
            self.first_audio = time.monotonic()
        self.audio_bytes += len(b)
        self.audio_frames += 1

    def text(self, t):
        self.texts.append(t[:200])

    def t(self):
        return round(time.monotonic() - (self.first_audio or self.opened), 3)

    async def send(self, websocket, message, kind):
        """Sends a text message and remembers its kind and time (since the first audio)."""
        await websocket.send(message)
        self.sent.append({"kind": kind, "t_s": self.t()})

    def report(self, websocket):
        def frame(f):
            return None if f is None else {"code": f.code, "reason": f.reason}

        protocol = getattr(websocket, "protocol", websocket)
        kinds = {}
        for m in self.sent:
            kinds[m["kind"]] = kinds.get(m["kind"], 0) + 1
        out = {
            "event": "session",
            "peer": self.peer,
            "subprotocol": websocket.subprotocol,
            "audio_bytes": self.audio_bytes,
            "audio_frames": self.audio_frames,
            "dropped_bytes": self.dropped_bytes,
            "texts": self.texts,
            "sent": kinds,
            "last_sent_t_s": self.sent[-1]["t_s"] if self.sent else None,
            "duration_s": round(time.monotonic() - self.opened, 3),
            "close_code": websocket.close_code,
            "close_reason": websocket.close_reason,
            "close_rcvd": frame(getattr(protocol, "close_rcvd", None)),
            "close_sent": frame(getattr(protocol, "close_sent", None)),
            "error": self.error,
        }
        out.update(self.extra)
        emit(out)


_watchers = set()


def session_handler(inner):
    """Wraps `inner(websocket, session)`: the session is reported once the connection has
    closed and `inner` has returned (websockets closes with 1000 when it returns, 1011 when it
    raises, as in the servers copied)."""

    async def handler(websocket, path=None):
        session = Session(websocket)

        async def report():
            await websocket.wait_closed()
            await session.done
            session.report(websocket)

        watcher = asyncio.ensure_future(report())
        _watchers.add(watcher)
        watcher.add_done_callback(_watchers.discard)
        try:
            await inner(websocket, session)
        except Exception as e:
            session.error = "%s: %s" % (type(e).__name__, e)
            raise
        finally:
            session.done.set_result(None)

    return handler


def arg_parser(description, default_port):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=default_port, help="0: any free port (printed)")
    p.add_argument("--stats", help="append the JSON event lines to this file too")
    return p


async def serve_forever(handler, args, name, **kwargs):
    global _stats_file
    _stats_file = args.stats
    import websockets

    async with websockets.serve(handler, args.host, args.port, **kwargs) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        emit({"event": "listening", "server": name, "host": args.host, "port": port, "websockets": websockets.__version__})
        await asyncio.Future()


def run(coro):
    try:
        asyncio.run(coro)
    except KeyboardInterrupt:
        sys.exit(0)
