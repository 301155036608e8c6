#!/usr/bin/env python3
"""WhisperLive websocket server, written from its public source (no model: fake text, real
message shapes, sample formats, transcription timing and end/close behaviour).

Source: collabora/WhisperLive @bde730b81bb23b5286470524d5f527caf6a8b9e0 (2026-08-04):
whisper_live/server.py (TranscriptionServer.recv_audio, handle_new_connection,
get_audio_from_websocket, ClientManager), whisper_live/backend/base.py (ServeClientBase:
speech_to_text, update_segments, send_transcription_to_client, disconnect),
whisper_live/backend/faster_whisper_backend.py (SERVER_READY, set_language), and the client
whisper_live/client.py (options message, float32 packets, END_OF_AUDIO).

- First message: the options JSON {"uid", "language", "task", "model", "use_vad",
  "send_last_n_segments", "same_output_threshold", "audio_format"?, ...}. Not JSON: the session
  ends. More than --max-clients (4): {"uid", "status": "WAIT", "message": minutes} and close.
  audio_format float32 (default), int16 or uint8, anything else ends the session.
- Then {"uid", "message": "SERVER_READY", "backend": "faster_whisper"}.
- Binary audio at 16 kHz in the chosen format. A transcription loop runs beside the reader:
  with less than 1.0 s of untranscribed audio it sleeps 0.1 s; with use_vad and no speech in
  the window the window is skipped (sleep 0.25 s); else (after --transcribe-ms) it sends
  {"uid", "segments": [{"start": "0.000", "end": "1.234", "text", "completed": bool}, ...]}:
  the last send_last_n_segments completed segments plus the current incomplete one. A segment
  completes when 1 s of silence follows it, or when the same incomplete text came back more
  than same_output_threshold (10) times. With "language": null the first transcription also
  sends {"uid", "language": "en", "language_prob": 0.99}.
- The binary message b"END_OF_AUDIO" ends the session at once: the transcription loop stops
  (untranscribed audio is dropped, no final message) and the server closes (1000). A session
  older than --max-connection-time (600 s) gets {"uid", "message": "DISCONNECT"} and is closed.
- websockets' default keepalive (ping every 20 s, 20 s timeout).

Run: whisperlive_server.py --port 0 [--stats FILE]
"""

import asyncio
import json
import struct
import time

import peerlib

RATE = 16000
clients = {}


def to_float(frame, fmt):
    if fmt == "uint8":
        return [(b - 128.0) / 128.0 for b in frame]
    if fmt == "int16":
        n = len(frame) // 2
        return [x / 32768.0 for x in struct.unpack("<%dh" % n, frame[: n * 2])]
    n = len(frame) // 4
    return list(struct.unpack("<%df" % n, frame[: n * 4]))


def main():
    p = peerlib.arg_parser(__doc__.split("\n")[0], 9090)
    p.add_argument("--max-clients", type=int, default=4)
    p.add_argument("--max-connection-time", type=float, default=600.0)
    p.add_argument("--transcribe-ms", type=float, default=150.0, help="time one fake transcription takes")
    a = p.parse_args()

    async def inner(ws, s):
        try:
            options = json.loads(await ws.recv())
        except ValueError:
            return
        s.text(json.dumps(options)[:200])
        uid = options.get("uid")
        if len(clients) >= a.max_clients:
            remaining = min(a.max_connection_time - (time.time() - t) for t in clients.values())
            await s.send(ws, json.dumps({"uid": uid, "status": "WAIT", "message": remaining / 60}), "WAIT")
            await ws.close()
            return
        fmt = options.get("audio_format", "float32")
        if fmt not in ("float32", "int16", "uint8"):
            return
        clients[ws] = time.time()
        samples = []  # speech flags per 10 ms
        st = {"exit": False, "offset": 0, "language": options.get("language"), "transcript": [], "prev": "", "same": 0, "words": 0}
        n_last = options.get("send_last_n_segments", 10)
        same_max = options.get("same_output_threshold", 10)
        use_vad = options.get("use_vad", True)
        await s.send(ws, json.dumps({"uid": uid, "message": "SERVER_READY", "backend": "faster_whisper"}), "SERVER_READY")

        def seg(start, end, text, completed):
            return {"start": "%.3f" % start, "end": "%.3f" % end, "text": text, "completed": completed}

        async def transcribe():
            while not st["exit"]:
                window = samples[st["offset"] :]
                if len(window) < 100:  # < 1.0 s
                    await asyncio.sleep(0.1)
                    continue
                await asyncio.sleep(a.transcribe_ms / 1000)
                if use_vad and not any(window):
                    st["offset"] += len(window)
                    await asyncio.sleep(0.25)
                    continue
                if st["language"] is None:
                    st["language"] = "en"
                    await s.send(ws, json.dumps({"uid": uid, "language": "en", "language_prob": 0.99}), "language")
                # runs of speech separated by >= 1 s of silence are segments
                runs, start, quiet = [], None, 0
                for i, v in enumerate(window):
                    if v:
                        if start is None:
                            start = i
                        quiet, last = 0, i
                    elif start is not None:
                        quiet += 1
                        if quiet >= 100:
                            runs.append((start, last + 1))
                            start, quiet = None, 0
                tail = (start, last + 1) if start is not None else None
                base_idx = st["offset"]
                base = base_idx / 100.0

                def words(r):
                    n = max(1, (r[1] - r[0]) // 30)
                    out = " ".join("w%d" % (st["words"] + k + 1) for k in range(n))
                    return out, n

                for r in runs:  # completed segments
                    text, n = words(r)
                    st["words"] += n
                    st["transcript"].append(seg(base + r[0] / 100, base + r[1] / 100, text, True))
                    st["offset"] = base_idx + r[1]
                    st["prev"], st["same"] = "", 0
                last_seg = None
                if tail is not None:
                    text, n = words(tail)
                    if text == st["prev"]:
                        st["same"] += 1
                    else:
                        st["prev"], st["same"] = text, 0
                    if st["same"] > same_max:
                        st["words"] += n
                        st["transcript"].append(seg(base + tail[0] / 100, base + tail[1] / 100, text, True))
                        st["offset"] = base_idx + tail[1]
                        st["prev"], st["same"] = "", 0
                    else:
                        last_seg = seg(base + tail[0] / 100, base + tail[1] / 100, text, False)
                segments = st["transcript"][-n_last:] + ([last_seg] if last_seg else [])
                if segments:
                    await s.send(ws, json.dumps({"uid": uid, "segments": segments}), "segments")

        task = asyncio.ensure_future(transcribe())
        try:
            while True:
                if time.time() - clients[ws] >= a.max_connection_time:
                    await s.send(ws, json.dumps({"uid": uid, "message": "DISCONNECT"}), "DISCONNECT")
                    break
                frame = await ws.recv()
                if frame == b"END_OF_AUDIO":
                    s.text("END_OF_AUDIO (binary)")
                    break
                if isinstance(frame, str):
                    s.text(frame)
                    raise TypeError("a text frame where audio was expected")
                s.audio(frame)
                xs = to_float(frame, fmt)
                for i in range(0, len(xs) - 159, 160):  # 10 ms flags
                    chunk = xs[i : i + 160]
                    samples.append(sum(x * x for x in chunk) / 160 > peerlib.SPEECH_RMS**2)
        finally:
            st["exit"] = True
            task.cancel()
            clients.pop(ws, None)
            # audio after the last completed segment: never sent as completed
            s.extra["untranscribed_s"] = (len(samples) - st["offset"]) / 100.0
            await ws.close()

    peerlib.run(peerlib.serve_forever(peerlib.session_handler(inner), a, "whisperlive"))


if __name__ == "__main__":
    main()
