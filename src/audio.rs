//! Audio for the ASR scenario: a strict RIFF/WAVE reader for 16-bit PCM (1 to
//! [`MAX_CHANNELS`] channels, any sample rate), the conversion to what the server is told
//! ([`convert`]: mixed down to mono, resampled, f32le), the arithmetic that cuts it into real-time chunks, a canonical WAV writer, and a
//! deterministic speech-like test signal so the demo needs no file.
//!
//! Owns: the WAV container (RIFF chunk walk, `fmt ` and `data` chunks, pad bytes,
//! WAVE_FORMAT_EXTENSIBLE with a PCM subformat) and the [`WavError`] messages that tell the user
//! what was found and how to convert it. PCM bytes are kept exactly as in the file
//! (little-endian, interleaved); [`conform`] converts them once at set-up.
//!
//! Must never: touch a socket, the runtime or the clock; read the OS random source; panic on
//! any input bytes. Only [`read_wav`] touches the file system.

use std::fmt;
use std::ops::Range;
use std::path::Path;

mod convert;

pub use convert::{conform, to_f32le, Conversion, ConvertError};

/// The most channels a WAV may have (all are mixed down to mono before streaming).
pub const MAX_CHANNELS: u16 = 32;

/// 16-bit PCM audio, as it will be streamed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Audio {
    /// Frames per second (> 0 for anything [`parse_wav`] returns).
    pub sample_rate: u32,
    /// 1 to [`MAX_CHANNELS`] for anything [`parse_wav`] returns.
    pub channels: u16,
    /// 16-bit little-endian PCM bytes, interleaved, exactly as in the file.
    pub pcm: Vec<u8>,
}

/// Why a byte string is not a WAV stampede can stream.
#[derive(Debug, PartialEq, Eq)]
pub enum WavError {
    /// The bytes do not start with `RIFF`.
    NotRiff,
    /// A RIFF file whose form type is not `WAVE`.
    NotWave,
    /// No `fmt ` chunk before the (streamed) data or at all.
    NoFmt,
    /// No `data` chunk.
    NoData,
    /// Not integer PCM (the tag of the plain format, or the subformat of an extensible one).
    UnsupportedFormat { format_tag: u16 },
    /// Integer PCM of another width than 16 bits.
    UnsupportedBits(u16),
    /// No channel, or more than [`MAX_CHANNELS`].
    UnsupportedChannels(u16),
    /// A chunk is inconsistent: `fmt ` too short, sample rate 0, block align not channels x 2,
    /// a data size that is not whole frames, a malformed extensible header.
    BadChunk,
    /// A chunk (or the RIFF header) claims more bytes than the file holds.
    Truncated,
    /// No audio at all: an empty file or a data chunk without a single frame.
    Empty,
}

const CONVERT: &str = "ffmpeg -i in.wav -acodec pcm_s16le out.wav";

fn format_name(tag: u16) -> &'static str {
    match tag {
        0x0001 => "integer PCM",
        0x0002 => "MS ADPCM",
        0x0003 => "IEEE float",
        0x0006 => "A-law",
        0x0007 => "mu-law",
        0x0011 => "IMA ADPCM",
        0x0031 => "GSM 6.10",
        0x0050 => "MPEG",
        0x0055 => "MP3",
        0xFFFE => "WAVE_FORMAT_EXTENSIBLE with a non-standard subformat",
        _ => "an unknown codec",
    }
}

impl fmt::Display for WavError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WavError::NotRiff => write!(
                f,
                "not a WAV file: it does not start with \"RIFF\"; stampede reads RIFF/WAVE \
                 16-bit PCM; convert it with: ffmpeg -i in.file -acodec pcm_s16le out.wav"
            ),
            WavError::NotWave => write!(
                f,
                "a RIFF file but not a WAVE one (the form type is not \"WAVE\"); stampede reads \
                 RIFF/WAVE 16-bit PCM; convert it with: ffmpeg -i in.file -acodec pcm_s16le out.wav"
            ),
            WavError::NoFmt => write!(
                f,
                "the WAV has no \"fmt \" chunk before its audio, so its format is unknown; \
                 stampede needs a 16-bit PCM fmt chunk; re-encode it with: {CONVERT}"
            ),
            WavError::NoData => write!(
                f,
                "the WAV has no \"data\" chunk, so no audio; stampede streams the data chunk of \
                 a 16-bit PCM WAV; re-encode it with: {CONVERT}"
            ),
            WavError::UnsupportedFormat { format_tag } => write!(
                f,
                "the WAV is encoded as {} (format tag 0x{format_tag:04X}): stampede streams \
                 16-bit integer PCM (tag 1, or 0xFFFE with a PCM subformat); convert it with: \
                 sox in.wav -b 16 -e signed-integer out.wav (or: {CONVERT})",
                format_name(*format_tag)
            ),
            WavError::UnsupportedBits(bits) => write!(
                f,
                "the WAV is {bits}-bit: stampede streams 16-bit PCM; convert it with: \
                 sox in.wav -b 16 out.wav (or: {CONVERT})"
            ),
            WavError::UnsupportedChannels(n) => write!(
                f,
                "the WAV has {n} channels: stampede reads 1 to {MAX_CHANNELS} (and mixes them down to mono); downmix it with: \
                 sox in.wav -c 1 out.wav (or: ffmpeg -i in.wav -ac 1 -acodec pcm_s16le out.wav)"
            ),
            WavError::BadChunk => write!(
                f,
                "the WAV has a malformed chunk (a fmt chunk that is too short, a sample rate of \
                 0, a block align that is not channels x 2 bytes, or a data size that is not a \
                 whole number of frames); stampede needs a consistent 16-bit PCM WAV; \
                 re-encode it with: {CONVERT}"
            ),
            WavError::Truncated => write!(
                f,
                "the WAV is truncated: a chunk claims more bytes than the file holds; stampede \
                 needs the whole file (an unknown data size of 0 or 0xFFFFFFFF is accepted); \
                 re-encode the original with: {CONVERT}"
            ),
            WavError::Empty => write!(
                f,
                "the WAV holds no audio (an empty file or a data chunk without a single frame); \
                 stampede needs at least one 16-bit PCM frame; re-encode the original with: \
                 {CONVERT}"
            ),
        }
    }
}

impl std::error::Error for WavError {}

fn le_u16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// The tail (bytes 2..16) of every standard `KSDATAFORMAT_SUBTYPE_*` GUID; bytes 0..2 are the
/// plain format tag.
const SUBTYPE_GUID_TAIL: [u8; 14] = [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71];

const WAVE_FORMAT_PCM: u16 = 0x0001;
const WAVE_FORMAT_EXTENSIBLE: u16 = 0xFFFE;

/// The accepted contents of a `fmt ` chunk.
#[derive(Clone, Copy, Debug)]
struct Fmt {
    sample_rate: u32,
    channels: u16,
}

impl Fmt {
    fn block_align(self) -> usize {
        usize::from(self.channels) * 2
    }
}

fn parse_fmt(body: &[u8]) -> Result<Fmt, WavError> {
    let field = |at| le_u16(body, at).ok_or(WavError::BadChunk);
    let tag = field(0)?;
    let channels = field(2)?;
    let sample_rate = le_u32(body, 4).ok_or(WavError::BadChunk)?;
    let block_align = field(12)?;
    let bits = field(14)?;
    let effective_tag = if tag == WAVE_FORMAT_EXTENSIBLE {
        // cbSize (16) >= 22, then valid bits (18), channel mask (20), subformat GUID (24..40).
        if field(16)? < 22 {
            return Err(WavError::BadChunk);
        }
        let guid = body.get(24..40).ok_or(WavError::BadChunk)?;
        if guid[2..] != SUBTYPE_GUID_TAIL {
            return Err(WavError::UnsupportedFormat { format_tag: WAVE_FORMAT_EXTENSIBLE });
        }
        u16::from_le_bytes([guid[0], guid[1]])
    } else {
        tag
    };
    if effective_tag != WAVE_FORMAT_PCM {
        return Err(WavError::UnsupportedFormat { format_tag: effective_tag });
    }
    if bits != 16 {
        return Err(WavError::UnsupportedBits(bits));
    }
    if !(1..=MAX_CHANNELS).contains(&channels) {
        return Err(WavError::UnsupportedChannels(channels));
    }
    if sample_rate == 0 || block_align != channels * 2 {
        return Err(WavError::BadChunk);
    }
    Ok(Fmt { sample_rate, channels })
}

/// Where the audio of the `data` chunk is.
#[derive(Clone, Debug)]
enum Data {
    /// An explicit size that fits in the file.
    Sized(Range<usize>),
    /// A size of 0 or 0xFFFFFFFF (written by a streaming encoder): the rest of the file.
    Streamed(usize),
}

/// Parses a RIFF/WAVE file holding 16-bit PCM, 1 to [`MAX_CHANNELS`] channels, at any sample rate.
///
/// Walks the chunks from the start, skipping unknown ones (`LIST`, `fact`, `JUNK`, ...) and their
/// pad byte when the size is odd. The first `fmt ` and the first `data` chunk count. A data size
/// beyond the end of the file is [`WavError::Truncated`], except the "unknown" sizes 0 and
/// 0xFFFFFFFF, which take the rest of the file (whole frames only).
pub fn parse_wav(bytes: &[u8]) -> Result<Audio, WavError> {
    if bytes.is_empty() {
        return Err(WavError::Empty);
    }
    // A prefix of a valid header is truncated; anything else is the wrong kind of file.
    let magic = &bytes[..bytes.len().min(4)];
    if magic != &b"RIFF"[..magic.len()] {
        return Err(WavError::NotRiff);
    }
    let form = bytes.get(8..bytes.len().min(12)).unwrap_or(&[]);
    if form != &b"WAVE"[..form.len()] {
        return Err(WavError::NotWave);
    }
    if bytes.len() < 12 {
        return Err(WavError::Truncated);
    }
    let riff_size = le_u32(bytes, 4).unwrap_or(0);
    let riff_claims_more = riff_size != 0 && riff_size != u32::MAX && u64::from(riff_size) + 8 > bytes.len() as u64;

    let mut fmt: Option<Fmt> = None;
    let mut data: Option<Data> = None;
    let mut pos = 12usize;
    while fmt.is_none() || data.is_none() {
        let Some(header) = bytes.get(pos..pos + 8) else {
            if pos < bytes.len() {
                // A partial chunk header at the end of the file.
                return Err(WavError::Truncated);
            }
            break;
        };
        let id = &header[..4];
        let size = le_u32(header, 4).unwrap_or(0);
        let body_start = pos + 8;
        let avail = bytes.len() - body_start;
        if id == b"data" && (size == 0 || size == u32::MAX) {
            if data.is_none() {
                if fmt.is_none() {
                    return Err(WavError::NoFmt);
                }
                data = Some(Data::Streamed(body_start));
            }
            break;
        }
        let size = usize::try_from(size).map_err(|_| WavError::Truncated)?;
        if size > avail {
            return Err(WavError::Truncated);
        }
        let body = body_start..body_start + size;
        if id == b"fmt " {
            if fmt.is_none() {
                fmt = Some(parse_fmt(&bytes[body.clone()])?);
            }
        } else if id == b"data" && data.is_none() {
            data = Some(Data::Sized(body.clone()));
        }
        // The pad byte after an odd-sized chunk may be missing at the very end.
        pos = (body.end + (size & 1)).min(bytes.len());
    }

    let Some(fmt) = fmt else {
        return Err(if riff_claims_more { WavError::Truncated } else { WavError::NoFmt });
    };
    let Some(data) = data else {
        return Err(if riff_claims_more { WavError::Truncated } else { WavError::NoData });
    };
    let frame = fmt.block_align();
    let range = match data {
        Data::Sized(range) => {
            if range.len() % frame != 0 {
                return Err(WavError::BadChunk);
            }
            range
        }
        Data::Streamed(start) => {
            let len = bytes.len() - start;
            start..start + (len - len % frame)
        }
    };
    if range.is_empty() {
        return Err(WavError::Empty);
    }
    Ok(Audio { sample_rate: fmt.sample_rate, channels: fmt.channels, pcm: bytes[range].to_vec() })
}

/// Reads and parses a WAV file; every error is a message naming the path.
pub fn read_wav(path: &Path) -> Result<Audio, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read audio file {}: {e}", path.display()))?;
    parse_wav(&bytes).map_err(|e| format!("audio file {}: {e}", path.display()))
}

impl Audio {
    /// Bytes of one frame (all channels of one sample instant); at least 2 even for a
    /// hand-built `channels: 0`.
    fn frame_bytes(&self) -> usize {
        usize::from(self.channels.max(1)) * 2
    }

    /// `sample_rate * channels * 2`.
    pub fn bytes_per_second(&self) -> u64 {
        u64::from(self.sample_rate) * u64::from(self.channels) * 2
    }

    /// Length of the audio in whole milliseconds (rounded down); 0 for a zero rate.
    pub fn duration_ms(&self) -> u64 {
        let bps = self.bytes_per_second();
        if bps == 0 {
            return 0;
        }
        let ms = u128::from(self.pcm.len() as u64) * 1000 / u128::from(bps);
        u64::try_from(ms).unwrap_or(u64::MAX)
    }

    /// Bytes of one chunk of `chunk_ms` (whole frames, at least one frame).
    ///
    /// The frame count is rounded down, so at rates where `rate * chunk_ms` is not a multiple
    /// of 1000 (22050 Hz, 10 ms) a chunk is slightly short: pace by byte offset, not by count.
    pub fn chunk_bytes(&self, chunk_ms: u32) -> usize {
        let frames = (u64::from(self.sample_rate) * u64::from(chunk_ms) / 1000).max(1);
        usize::try_from(frames).unwrap_or(usize::MAX).saturating_mul(self.frame_bytes())
    }

    /// The audio cut into chunks of `chunk_ms`: (offset, len) ranges into `pcm`; the last may be
    /// shorter.
    pub fn chunks(&self, chunk_ms: u32) -> Vec<Range<usize>> {
        let step = self.chunk_bytes(chunk_ms);
        let len = self.pcm.len();
        let mut out = Vec::with_capacity(len.div_ceil(step));
        let mut start = 0;
        while start < len {
            let end = start.saturating_add(step).min(len);
            out.push(start..end);
            start = end;
        }
        out
    }

    /// Encodes back to a canonical 44-byte-header WAV (for tests and for writing the demo
    /// signal). An odd-length `pcm` (only possible by hand) gets the RIFF pad byte.
    pub fn to_wav(&self) -> Vec<u8> {
        let data_len = u32::try_from(self.pcm.len()).unwrap_or(u32::MAX);
        let pad = data_len & 1;
        let block_align = self.channels.saturating_mul(2);
        let byte_rate = self.sample_rate.saturating_mul(u32::from(self.channels)).saturating_mul(2);
        let mut w = Vec::with_capacity(44 + self.pcm.len() + 1);
        w.extend_from_slice(b"RIFF");
        w.extend_from_slice(&(36u32.saturating_add(data_len).saturating_add(pad)).to_le_bytes());
        w.extend_from_slice(b"WAVE");
        w.extend_from_slice(b"fmt ");
        w.extend_from_slice(&16u32.to_le_bytes());
        w.extend_from_slice(&WAVE_FORMAT_PCM.to_le_bytes());
        w.extend_from_slice(&self.channels.to_le_bytes());
        w.extend_from_slice(&self.sample_rate.to_le_bytes());
        w.extend_from_slice(&byte_rate.to_le_bytes());
        w.extend_from_slice(&block_align.to_le_bytes());
        w.extend_from_slice(&16u16.to_le_bytes());
        w.extend_from_slice(b"data");
        w.extend_from_slice(&data_len.to_le_bytes());
        w.extend_from_slice(&self.pcm[..data_len as usize]);
        if pad == 1 {
            w.push(0);
        }
        w
    }
}

/// xorshift64: the only source of "randomness" here, seeded with constants.
#[derive(Clone, Debug)]
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
}

/// Syllable period: ~4 syllables per second.
const SYLLABLE_S: f64 = 0.25;
/// Vowel formants (F1, F2) in Hz: /a/, /i/, /u/, /e/, /ae/.
const VOWELS: [(f64, f64); 5] = [(730.0, 1090.0), (270.0, 2290.0), (300.0, 870.0), (530.0, 1840.0), (660.0, 1720.0)];

/// One syllable's parameters, drawn when it starts.
#[derive(Clone, Copy, Debug)]
struct Syllable {
    voiced_s: f64,
    f0_start: f64,
    f0_end: f64,
    from: (f64, f64),
    to: (f64, f64),
    stress: f64,
}

impl Syllable {
    fn draw(rng: &mut XorShift, from: (f64, f64)) -> Syllable {
        let f0_start = rng.range(120.0, 250.0);
        let vowel = VOWELS[(rng.next() % VOWELS.len() as u64) as usize];
        Syllable {
            // Leaves a gap of 50..110 ms of near-silence.
            voiced_s: rng.range(0.14, 0.2),
            f0_start,
            f0_end: (f0_start * rng.range(0.85, 1.1)).clamp(110.0, 260.0),
            from,
            to: vowel,
            stress: rng.range(0.55, 1.0),
        }
    }
}

fn raised_cosine(x: f64) -> f64 {
    0.5 - 0.5 * (std::f64::consts::PI * x.clamp(0.0, 1.0)).cos()
}

fn gauss(f: f64, centre: f64, bandwidth: f64) -> f64 {
    let d = (f - centre) / bandwidth;
    (-0.5 * d * d).exp()
}

/// A deterministic speech-like test signal (so the demo needs no file): `seconds` of 16-bit
/// mono at `sample_rate`, syllable-like bursts (~4 per second) of a voiced tone with harmonics
/// (fundamental 120-250 Hz, gliding) shaped by moving vowel formants, separated by short
/// near-silences, plus a little deterministic noise (xorshift). No randomness from the OS: the
/// same arguments give the same bytes. A zero rate or a non-positive duration gives no samples.
pub fn speech_like(sample_rate: u32, seconds: f64) -> Audio {
    let n = if sample_rate == 0 || !seconds.is_finite() || seconds <= 0.0 {
        0
    } else {
        // `as` saturates; callers validate durations at the config boundary.
        (f64::from(sample_rate) * seconds).round() as usize
    };
    let sr = f64::from(sample_rate);
    let top = (0.45 * sr).min(4000.0);
    let mut params = XorShift(0x5EED_5EEC_0000_0001);
    let mut noise = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut pcm = Vec::with_capacity(n.saturating_mul(2));
    let mut syllable_index = u64::MAX;
    let mut syl = Syllable::draw(&mut params, VOWELS[0]);
    let mut phase = 0.0f64;
    for i in 0..n {
        let t = i as f64 / sr;
        let index = (t / SYLLABLE_S) as u64;
        if index != syllable_index {
            if syllable_index != u64::MAX {
                syl = Syllable::draw(&mut params, syl.to);
            }
            syllable_index = index;
        }
        let within = t - index as f64 * SYLLABLE_S;
        let mut v = 0.0;
        if within < syl.voiced_s {
            let x = within / syl.voiced_s;
            let f0 = syl.f0_start + (syl.f0_end - syl.f0_start) * x;
            // Attack 25 ms, release 50 ms, a little syllable-internal swell.
            let env = raised_cosine(within / 0.025)
                * raised_cosine((syl.voiced_s - within) / 0.05)
                * (0.8 + 0.2 * (std::f64::consts::PI * x).sin());
            // Coarticulation: formants glide from the previous vowel over the first 40%.
            let g = raised_cosine(x / 0.4);
            let f1 = syl.from.0 + (syl.to.0 - syl.from.0) * g;
            let f2 = syl.from.1 + (syl.to.1 - syl.from.1) * g;
            // Harmonics by the Chebyshev recurrence sin((h+1)p) = 2cos(p)sin(hp) - sin((h-1)p).
            let harmonics = ((top / f0) as usize).clamp(1, 32);
            let two_cos = 2.0 * phase.cos();
            let (mut s_prev, mut s) = (0.0f64, phase.sin());
            let (mut sum, mut norm) = (0.0, 0.0);
            for h in 1..=harmonics {
                let f = f0 * h as f64;
                let a = (0.04 + gauss(f, f1, 90.0) + 0.7 * gauss(f, f2, 140.0) + 0.3 * gauss(f, 2500.0, 250.0)) / h as f64;
                sum += a * s;
                norm += a;
                let next = two_cos * s - s_prev;
                s_prev = s;
                s = next;
            }
            if norm > 0.0 {
                v = 0.6 * env * syl.stress * sum / norm;
            }
            phase += std::f64::consts::TAU * f0 / sr;
            if phase >= std::f64::consts::TAU {
                phase -= std::f64::consts::TAU;
            }
        }
        v += 0.002 * (2.0 * noise.unit() - 1.0);
        let sample = (v * 32767.0).round().clamp(-32768.0, 32767.0) as i16;
        pcm.extend_from_slice(&sample.to_le_bytes());
    }
    Audio { sample_rate, channels: 1, pcm }
}

#[cfg(test)]
mod tests;
