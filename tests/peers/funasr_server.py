#!/usr/bin/env python3
"""FunASR websocket servers, written from the protocol documents and server sources (no model:
fake text, real message shapes, timing rules, sample format and end/close behaviour).

Sources (modelscope/FunASR):
- runtime/docs/websocket_protocol.md @3c58cb56a56598232c3efffa15d313d7e82a4307
- --flavour cpp-2pass: runtime/websocket/bin/websocket-server-2pass.cpp
  @724a08585523e010f0de271f8d0bd0e438bb1727 (2026-07-22)
- --flavour cpp-offline: runtime/websocket/bin/websocket-server.cpp
  @3e44172c8b927ffc69b585d4fd80b458cb18ba97 (2024-09-25)
- --flavour py-2023: runtime/python/websocket/funasr_wss_server.py
  @84b877ef357f859a7901b3e1ac924a8178a95695 (2023-11-21, legacy websockets)
- --flavour py-2026: runtime/python/websocket/funasr_wss_server.py
  @30caaf8e18755c8502b2ee55f3e2921c2329c0f6 (2026-07-29) and its client funasr_wss_client.py

What each flavour does (client: a JSON config text message, binary PCM16 mono at audio_fs
(16 kHz default), then {"is_speaking": false}):
- cpp-2pass: audio is decoded in 800-sample steps, and only once a text message has come
  (before it, audio is dropped: no hotword embedding) and it carried chunk_size (no online
  handle: dropped). Every chunk_size[1]*60 ms of audio with new text: {"text": new words,
  "mode": "2pass-online", "slice_type": 0|1, "index", "timestamp", "wav_name", "is_final":
  false}; when the VAD ends an utterance (800 ms of silence): {"mode": "2pass-offline", "text",
  "start_time", "end_time", "slice_type": 2, "index", ..., "is_final": false}. is_speaking false
  (or is_finished true): the rest is decoded and ONE message with "is_final": true follows,
  always (text "" and no "mode" when nothing was pending). The server never closes.
- cpp-offline: all audio is kept; is_speaking false -> one {"text", "mode": "offline",
  "is_final": false, "wav_name"} (the final says false). The server never closes.
- py-2023: a new connection closes every other one (one client at a time); chunk_interval has
  no default (audio before it ends the session: AttributeError, closed 1000); partials
  {"mode": "2pass-online", "text", "wav_name", "is_final": is_speaking} say true, the VAD-end
  2pass-offline says true, the final after is_speaking false says false. No subprotocol needed.
- py-2026: the "binary" subprotocol is required (websockets >= 14: HTTP 400 without it);
  chunk_interval defaults to 10; audio before chunk_size is discarded; partials say false,
  2pass-offline results say true; after is_speaking false the offline final (is_final true)
  and, when the message also had "is_end": true, an acknowledgement {"mode", "wav_name",
  "is_final": true, "is_end": true}. The server never closes by itself.
No keepalive pings in any flavour (C++: websocketpp has none; Python: ping_interval=None).

Run: funasr_server.py --flavour cpp-2pass --port 0 [--stats FILE]
"""

import json
import time

import peerlib

VAD_END_MS = 800  # fsmn-vad max_end_silence_time


class Utterances:
    """Speech/silence tracking over audio steps: words of the current utterance, VAD end."""

    def __init__(self):
        self.words = peerlib.Words()
        self.utt = []  # words of the current utterance
        self.pending_online = []  # words not yet sent in a partial
        self.in_speech = False
        self.silence_ms = 0.0
        self.pos_ms = 0.0
        self.start_ms = None

    def step(self, ms, speech):
        """Adds `ms` of audio; returns True when the VAD ends an utterance here."""
        self.pos_ms += ms
        if speech:
            if not self.in_speech:
                self.in_speech, self.start_ms = True, self.pos_ms - ms
            self.silence_ms = 0.0
            new = self.words.add(ms)
            self.utt += new
            self.pending_online += new
            return False
        if self.in_speech:
            self.silence_ms += ms
            if self.silence_ms >= VAD_END_MS:
                self.in_speech = False
                return True
        return False

    def take_utterance(self):
        text, self.utt = " ".join(self.utt), []
        return text

    def take_online(self):
        text, self.pending_online = " ".join(self.pending_online), []
        return text


async def cpp_2pass(ws, s):
    msg = {"wav_format": "pcm", "wav_name": "wav-default-id", "mode": "2pass", "audio_fs": 16000}
    hotwords = False
    online = False
    chunk_ms = 600.0
    buf = bytearray()
    u = Utterances()
    opened_ms = int(time.time() * 1000)
    index = 0
    started = False
    since_online_ms = 0.0

    def result(online_text, offline_text, is_final):
        nonlocal index, started
        r = {"text": ""}
        if online_text:
            r.update({"text": online_text, "mode": "2pass-online", "slice_type": 1, "index": index})
            if not started:
                r["slice_type"], started = 0, True
        r["timestamp"] = opened_ms
        if msg["mode"] != "online":
            if offline_text:
                r.update({"text": offline_text, "mode": "2pass-offline", "start_time": u.start_ms, "end_time": u.pos_ms, "slice_type": 2, "index": index})
                r["timestamp"] = "[[%d,%d]]" % (u.start_ms or 0, u.pos_ms)
                index += 1
                started = False
        elif is_final and started:
            index += 1
            started = False
        r["wav_name"] = msg["wav_name"]
        r["is_final"] = is_final
        return r

    async def decode(final):
        nonlocal since_online_ms
        step = 800 * 2
        while len(buf) >= step:
            piece = bytes(buf[:step])
            del buf[:step]
            ms = 800 * 1000.0 / msg["audio_fs"]
            ended = u.step(ms, peerlib.rms_pcm16(piece) > peerlib.SPEECH_RMS)
            since_online_ms += ms
            online_text = ""
            if since_online_ms >= chunk_ms:
                since_online_ms = 0.0
                online_text = u.take_online() if msg["mode"] != "offline" else ""
            offline_text = u.take_utterance() if ended else ""
            r = result(online_text, offline_text, False)
            if r["text"] != "":
                await s.send(ws, json.dumps(r, ensure_ascii=False), r.get("mode", "empty"))
        if final:
            if buf:
                u.step(len(buf) * 500.0 / msg["audio_fs"], peerlib.rms_pcm16(bytes(buf)) > peerlib.SPEECH_RMS)
                buf.clear()
            online_text = u.take_online() if msg["mode"] != "offline" else ""
            r = result(online_text, u.take_utterance(), True)
            await s.send(ws, json.dumps(r, ensure_ascii=False), "final")

    async for m in ws:
        if isinstance(m, str):
            s.text(m)
            try:
                j = json.loads(m)
            except ValueError:
                return  # is_eof: the connection stays, nothing more is decoded; the client closes
            for k in ("wav_name", "mode", "wav_format", "audio_fs"):
                if k in j:
                    msg[k] = j[k]
            hotwords = True
            if "chunk_size" in j and not online:
                cs = j["chunk_size"]
                if len(cs) == 3 and cs[1] != 0:
                    online, chunk_ms = True, cs[1] * 60.0
            if (j.get("is_speaking") is False or j.get("is_finished") is True) and hotwords:
                if online:
                    await decode(True)
            continue
        s.audio(m)
        buf += m
        if len(buf) > 1600:
            keep = len(buf) % 1600
            if hotwords and online:
                tail = bytes(buf[len(buf) - keep :]) if keep else b""
                del buf[len(buf) - keep :]
                await decode(False)
                buf += tail
            else:
                s.dropped_bytes += len(buf) - keep
                del buf[: len(buf) - keep]


async def cpp_offline(ws, s):
    msg = {"wav_name": "wav-default-id", "audio_fs": 16000}
    buf = bytearray()
    async for m in ws:
        if isinstance(m, str):
            s.text(m)
            try:
                j = json.loads(m)
            except ValueError:
                return
            for k in ("wav_name", "audio_fs"):
                if k in j:
                    msg[k] = j[k]
            if j.get("is_speaking") is False or j.get("is_finished") is True:
                u = Utterances()
                step = 1600
                for off in range(0, len(buf), step):
                    piece = bytes(buf[off : off + step])
                    u.step(len(piece) * 500.0 / msg["audio_fs"], peerlib.rms_pcm16(piece) > peerlib.SPEECH_RMS)
                text = " ".join("w%d" % i for i in range(1, u.words.n + 1))
                r = {"text": text if buf else "", "mode": "offline", "is_final": False}
                if buf and text:
                    r["timestamp"] = "[[0,%d]]" % int(u.pos_ms)
                r["wav_name"] = msg["wav_name"]
                buf = bytearray()
                await s.send(ws, json.dumps(r, ensure_ascii=False), "offline")
            continue
        s.audio(m)
        buf += m


CONNECTIONS = set()


async def python_server(ws, s, year):
    st = {"wav_name": "microphone", "mode": "2pass", "audio_fs": 16000, "chunk_size": None}
    if year == 2026:
        st["chunk_interval"] = 10
        st["is_speaking"] = True
    else:
        for other in list(CONNECTIONS):  # clear_websocket(): one client at a time
            await other.close()
        CONNECTIONS.clear()
    CONNECTIONS.add(ws)
    errors = []
    u = Utterances()
    online_frames = 0
    speech_frames = 0
    pending_audio = 0
    try:
        async for m in ws:
            if isinstance(m, str):
                s.text(m)
                try:
                    j = json.loads(m)
                except ValueError:
                    if year == 2026:
                        continue
                    raise
                end = False
                if "is_speaking" in j:
                    st["is_speaking"] = bool(j["is_speaking"])
                    end = not st["is_speaking"]
                for k in ("chunk_interval", "wav_name", "chunk_size", "audio_fs"):
                    if k in j:
                        st[k] = j[k]
                if "mode" in j:
                    if year == 2026 and j["mode"] and j["mode"] not in ("online", "offline", "2pass"):
                        errors.append("unsupported mode: %r" % j["mode"])
                    st["mode"] = j["mode"] or st["mode"]
                if year == 2026:
                    if end:
                        await finish(ws, s, st, u, errors, bool(j.get("is_end")), speech_frames or pending_audio)
                        speech_frames = pending_audio = online_frames = 0
                    continue
                if not (online_frames or speech_frames):
                    continue
                # 2023: the text message falls through to the end-of-speech check below
                m = None
            if m is not None:
                if year == 2026:
                    if st["mode"] not in ("online", "offline", "2pass"):
                        continue
                    if st["chunk_size"] is None:
                        errors.append("audio frame discarded: chunk_size is not configured")
                        s.dropped_bytes += len(m)
                        s.audio(b"")
                        continue
                s.audio(m)
                interval = st["chunk_interval"]  # 2023: KeyError when never sent -> session ends
                ms = len(m) * 500.0 / (st["audio_fs"] if year == 2026 else 16000)
                pending_audio += 1
                ended = u.step(ms, peerlib.rms_pcm16(m) > peerlib.SPEECH_RMS)
                online_frames += 1
                if u.in_speech or ended:
                    speech_frames += 1
                if online_frames % interval == 0 or ended:
                    if st["mode"] in ("2pass", "online") and not (st["mode"] == "2pass" and ended):
                        text = u.take_online()
                        if text:
                            is_final = st["is_speaking"] if year == 2023 else (ended or not st["is_speaking"])
                            await s.send(ws, json.dumps({"mode": "2pass-online" if "2pass" in st["mode"] else st["mode"], "text": text, "wav_name": st["wav_name"], "is_final": is_final}), "2pass-online")
                    online_frames = 0
                if not ended and st["is_speaking"]:
                    continue
            elif not (not st["is_speaking"]):
                continue
            # VAD end of an utterance, or (2023) the end of speech
            u.take_online()
            if st["mode"] in ("2pass", "offline"):
                text = u.take_utterance()
                if speech_frames and (text or year == 2026):
                    mode = "2pass-offline" if "2pass" in st["mode"] else st["mode"]
                    r = {"mode": mode, "text": text, "wav_name": st["wav_name"], "is_final": st["is_speaking"] if year == 2023 else True}
                    if year == 2026:
                        r = {"mode": mode, "spk_name": "unknown", "spk_score": 0.0, "text": text, "wav_name": st["wav_name"], "is_final": True}
                    await s.send(ws, json.dumps(r), "final" if not st["is_speaking"] else "2pass-offline")
            speech_frames = 0
            pending_audio = 0
    finally:
        CONNECTIONS.discard(ws)
        if errors:
            s.extra["errors"] = errors


async def finish(ws, s, st, u, errors, ack, had_audio):
    """py-2026 finish_input: the online segment (no message in 2pass), the offline final, the
    acknowledgement when asked for."""
    text_online = u.take_online()
    if st["mode"] == "online" and text_online:
        await s.send(ws, json.dumps({"mode": "online", "text": text_online, "wav_name": st["wav_name"], "is_final": True}), "final")
    if st["mode"] in ("2pass", "offline") and had_audio:
        mode = "2pass-offline" if "2pass" in st["mode"] else st["mode"]
        r = {"mode": mode, "spk_name": "unknown", "spk_score": 0.0, "text": u.take_utterance(), "wav_name": st["wav_name"], "is_final": True}
        await s.send(ws, json.dumps(r), "final")
    if ack:
        a = {"mode": st["mode"], "wav_name": st["wav_name"], "is_final": not errors, "is_end": True}
        if errors:
            a["error"] = "; ".join(errors)
        await s.send(ws, json.dumps(a), "end-ack")


def legacy_select_subprotocol(connection, subprotocols):
    """websockets < 14: "binary" when offered, else no subprotocol (no rejection)."""
    return "binary" if "binary" in subprotocols else None


def main():
    p = peerlib.arg_parser(__doc__.split("\n")[0], 10095)
    p.add_argument("--flavour", required=True, choices=["cpp-2pass", "cpp-offline", "py-2023", "py-2026"])
    a = p.parse_args()
    if a.flavour == "cpp-2pass":
        inner, kw = cpp_2pass, {}
    elif a.flavour == "cpp-offline":
        inner, kw = cpp_offline, {}
    elif a.flavour == "py-2023":
        inner, kw = (lambda ws, s: python_server(ws, s, 2023)), {"select_subprotocol": legacy_select_subprotocol}
    else:
        inner, kw = (lambda ws, s: python_server(ws, s, 2026)), {"subprotocols": ["binary"]}
    kw["ping_interval"] = None
    peerlib.run(peerlib.serve_forever(peerlib.session_handler(inner), a, "funasr-" + a.flavour, **kw))


if __name__ == "__main__":
    main()
