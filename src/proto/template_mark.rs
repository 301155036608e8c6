//! `{mark}`: who sent a message, its number and when it was meant to go, as a short marker that
//! survives any envelope (alphanumeric only, so JSON escaping and URL encoding never change it),
//! and a finder for every marker anywhere in received bytes (text or binary).
//!
//! Layout ([`MARK_LEN`] = 40 bytes): the prefix [`MARK_PREFIX`], then base62 (`0-9A-Za-z`)
//! fixed-width fields: sender (6 chars, `u32`), seq (11, `u64`), intended_ns (11, `u64`), epoch
//! (6, `u32`), then 2 check chars over the fields. Random alphanumeric text matches at a position with
//! probability 62⁻⁶ (prefix and check), random bytes far less.

/// The first bytes of every mark.
pub const MARK_PREFIX: &[u8; 4] = b"Zm4K";
/// The length of an encoded mark.
pub const MARK_LEN: usize = 4 + FIELDS + 2;
const FIELDS: usize = 6 + 11 + 11 + 6;
const B62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// What a `{mark}` carries. `intended_ns` is the time the message was meant to be sent, in
/// CLOCK_MONOTONIC nanoseconds: comparable between processes on one machine (not across
/// machines).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Mark {
    /// The sending connection.
    pub sender: u32,
    pub seq: u64,
    pub intended_ns: u64,
    /// What the sender's room count said when the message was sent (chat: the room's joins so
    /// far), so that sender and receivers judge who was expected by one number.
    pub epoch: u32,
}

impl Mark {
    /// Appends the [`MARK_LEN`] bytes of this mark.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut b = [0u8; MARK_LEN];
        b[..4].copy_from_slice(MARK_PREFIX);
        put(&mut b[4..10], self.sender as u64);
        put(&mut b[10..21], self.seq);
        put(&mut b[21..32], self.intended_ns);
        put(&mut b[32..38], u64::from(self.epoch));
        let c = check(&b[4..4 + FIELDS]);
        b[MARK_LEN - 2] = B62[c / 62];
        b[MARK_LEN - 1] = B62[c % 62];
        out.extend_from_slice(&b);
    }

    /// The mark at the start of `b`, if `b` starts with a whole valid one.
    pub fn decode(b: &[u8]) -> Option<Mark> {
        let b = b.get(..MARK_LEN)?;
        if &b[..4] != MARK_PREFIX {
            return None;
        }
        let c = check(&b[4..4 + FIELDS]);
        if b[MARK_LEN - 2] != B62[c / 62] || b[MARK_LEN - 1] != B62[c % 62] {
            return None;
        }
        let sender = u32::try_from(get(&b[4..10])?).ok()?;
        let epoch = u32::try_from(get(&b[32..38])?).ok()?;
        Some(Mark { sender, seq: get(&b[10..21])?, intended_ns: get(&b[21..32])?, epoch })
    }
}

/// Every mark in `hay`, in order (non-overlapping), wherever it sits: in a JSON string, an
/// escaped string, a URL, binary.
pub fn find_marks(hay: &[u8]) -> MarkIter<'_> {
    MarkIter { hay, at: 0 }
}

/// See [`find_marks`].
#[derive(Clone, Debug)]
pub struct MarkIter<'a> {
    hay: &'a [u8],
    at: usize,
}

impl Iterator for MarkIter<'_> {
    type Item = Mark;

    fn next(&mut self) -> Option<Mark> {
        loop {
            let rest = self.hay.get(self.at..)?;
            if rest.len() < MARK_LEN {
                self.at = self.hay.len();
                return None;
            }
            // The scan for the first prefix byte is the hot loop: eight bytes at a time.
            let Some(i) = find_byte(&rest[..rest.len() - MARK_LEN + 1], MARK_PREFIX[0]) else {
                self.at = self.hay.len();
                return None;
            };
            match Mark::decode(&rest[i..]) {
                Some(m) => {
                    self.at += i + MARK_LEN;
                    return Some(m);
                }
                None => self.at += i + 1,
            }
        }
    }
}

/// The first `b` in `hay` (memchr's word-at-a-time scan, without `unsafe`).
pub(super) fn find_byte(hay: &[u8], b: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let pattern = LO * b as u64;
    let mut chunks = hay.chunks_exact(8);
    for (k, c) in chunks.by_ref().enumerate() {
        let x = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) ^ pattern;
        // A zero byte in x is a match; the lowest flagged byte is always a true one.
        let found = x.wrapping_sub(LO) & !x & HI;
        if found != 0 {
            return Some(k * 8 + (found.trailing_zeros() / 8) as usize);
        }
    }
    let tail = hay.len() - chunks.remainder().len();
    chunks.remainder().iter().position(|&x| x == b).map(|i| tail + i)
}

fn digit(c: u8) -> Option<u64> {
    Some(match c {
        b'0'..=b'9' => c - b'0',
        b'A'..=b'Z' => c - b'A' + 10,
        b'a'..=b'z' => c - b'a' + 36,
        _ => return None,
    } as u64)
}

fn put(dst: &mut [u8], mut v: u64) {
    for d in dst.iter_mut().rev() {
        *d = B62[(v % 62) as usize];
        v /= 62;
    }
}

fn get(src: &[u8]) -> Option<u64> {
    src.iter().try_fold(0u64, |a, &c| a.checked_mul(62)?.checked_add(digit(c)?))
}

/// A position-weighted sum of the field chars, in `0..62²`.
fn check(fields: &[u8]) -> usize {
    fields.iter().fold(7usize, |h, &c| (h * 131 + c as usize) % (62 * 62))
}
