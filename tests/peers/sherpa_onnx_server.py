#!/usr/bin/env python3
"""sherpa-onnx streaming websocket server, written from its public source (no model: fake
text, real message shapes, sample format, endpoint rules and end/close behaviour).

Source: k2-fsa/sherpa-onnx python-api-examples/streaming_server.py
@47a2dd4cf889c4cc6ec9784452fb5dee5859aa60 (2024-12-04; repository HEAD 634265c9b576).

- The client sends binary float32 samples at 16 kHz (np.frombuffer(message, np.float32); no
  config message) and the text message "Done" at the end.
- Whenever the recognizer is ready (here: every --chunk-ms, 320 ms, of audio received) the
  server sends {"text": the current segment's text so far, "segment": n}; at an endpoint the
  message still carries n, then the stream is reset and n increments. Endpoint rules
  (defaults of the script): rule1 2.4 s of trailing silence with no text, rule2 1.2 s of
  trailing silence after text, rule3 an utterance of 20 s.
- After "Done": 0.3 s of tail padding, input finished, one last {"text", "segment"}, then the
  handler returns and websockets closes (1000).
- websockets.serve(max_size=1 MiB, max_queue=32, default keepalive); beyond
  --max-active-connections (200) the handshake is answered 503.

Run: sherpa_onnx_server.py --port 0 [--stats FILE]
"""

import http
import json

import peerlib

RATE = 16000
active = 0


def main():
    p = peerlib.arg_parser(__doc__.split("\n")[0], 6006)
    p.add_argument("--chunk-ms", type=float, default=320.0)
    p.add_argument("--max-active-connections", type=int, default=200)
    a = p.parse_args()

    async def inner(ws, s):
        global active
        words = peerlib.Words()
        text, segment = [], 0
        since, silence, utt = 0.0, 0.0, 0.0
        try:
            while True:
                m = await ws.recv()
                if m == "Done":
                    s.text(m)
                    break
                if isinstance(m, str):
                    s.text(m)
                    m = m.encode()
                s.audio(m)
                ms = (len(m) // 4) * 1000.0 / RATE
                speech = peerlib.rms_f32(m) > peerlib.SPEECH_RMS
                text += words.add(ms) if speech else []
                silence = 0.0 if speech else silence + ms
                utt += ms
                since += ms
                while since >= a.chunk_ms:
                    since -= a.chunk_ms
                    msg = {"text": " ".join(text), "segment": segment}
                    endpoint = (not text and silence >= 2400) or (text and silence >= 1200) or utt >= 20000
                    if endpoint:
                        text, utt, silence = [], 0.0, 0.0
                        segment += 1
                    await s.send(ws, json.dumps(msg), "endpoint" if endpoint else "result")
            await s.send(ws, json.dumps({"text": " ".join(text), "segment": segment}), "final")
        finally:
            active -= 1

    async def process_request(connection, request):
        global active
        if active < a.max_active_connections:
            active += 1
            return None
        r = connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "The server is busy. Please retry later.")
        r.headers["Hint"] = "The server is overloaded. Please retry later."
        return r

    kw = {"max_size": 1 << 20, "max_queue": 32, "process_request": process_request}
    peerlib.run(peerlib.serve_forever(peerlib.session_handler(inner), a, "sherpa-onnx", **kw))


if __name__ == "__main__":
    main()
