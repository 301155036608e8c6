#!/usr/bin/env python3
"""A tiny Vosk websocket client, as alphacep/vosk-server websocket/test.py does it (commit
c2e82f029c1ac5df76b0aff8e61fc130205a757e): {"config": {"sample_rate": R}}, then the WAV's
PCM16 bytes in chunks, each followed by reading one answer, then '{"eof" : 1}' and the final
answer. Here the chunks are paced in real time (--speed) and every answer is printed as a JSON
line with the audio position and the time it came, so a run against tests/peers/vosk_server.py
shows what a well-behaved client sees. The close code is printed last.

Run: python vosk_client.py ws://127.0.0.1:PORT FILE.wav [--chunk-ms 20] [--speed 1]
"""

import argparse
import asyncio
import json
import time
import wave

import websockets


async def run(a):
    with wave.open(a.wav, "rb") as w:
        rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        assert width == 2 and channels == 1, "16-bit mono WAV expected"
        pcm = w.readframes(w.getnframes())
    chunk = int(rate * a.chunk_ms / 1000) * 2
    async with websockets.connect(a.url) as ws:
        await ws.send(json.dumps({"config": {"sample_rate": rate}}))
        t0 = time.monotonic()
        sent = 0
        finals = 0
        for off in range(0, len(pcm), chunk):
            piece = pcm[off : off + chunk]
            if a.speed > 0:
                due = t0 + (off / 2 / rate) / a.speed
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            await ws.send(piece)
            sent += len(piece)
            obj = json.loads(await ws.recv())
            if "text" in obj:
                finals += 1
                audio_s = sent / 2 / rate
                print(json.dumps({"final": obj["text"], "audio_s": round(audio_s, 3), "t_s": round(time.monotonic() - t0, 3)}, ensure_ascii=False))
        await ws.send('{"eof" : 1}')
        t_eof = time.monotonic()
        obj = json.loads(await ws.recv())
        print(json.dumps({"eof_final": obj.get("text"), "after_eof_ms": round((time.monotonic() - t_eof) * 1000, 1)}, ensure_ascii=False))
        try:
            extra = await asyncio.wait_for(ws.recv(), 5)
            print(json.dumps({"unexpected": str(extra)[:200]}))
        except websockets.ConnectionClosed:
            pass
        await ws.wait_closed()
        print(json.dumps({"sent_bytes": sent, "audio_s": round(len(pcm) / 2 / rate, 3), "finals_before_eof": finals, "close_code": ws.close_code, "close_reason": ws.close_reason}))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("wav")
    p.add_argument("--chunk-ms", type=int, default=20)
    p.add_argument("--speed", type=float, default=1.0)
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
