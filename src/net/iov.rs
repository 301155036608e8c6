//! Vectored writes of a message made of a connection's own bytes and ranges of shared buffers
//! (a template's `{payload}` filler, pre-masked once per run): the shared bytes go to the kernel
//! from the one shared buffer, never copied per message.
//!
//! An [`IoVecs`] owns what the write points into while monoio owns it: the connection's own
//! bytes (a `Vec<u8>`) and a clone of each shared buffer (`Arc<[u8]>`, cloned once per
//! connection: a buffer already held is found by pointer, so a message costs no reference
//! count). It is reused per connection: after the first messages its `Vec`s have their capacity
//! and a message allocates nothing. [`writev_all`] loops on partial writes, advancing across the
//! pieces ([`advance`]). Over TLS the stream takes one piece per write and rustls copies it into
//! its records (the copy encryption makes anyway).

use std::ops::Range;
use std::sync::Arc;

use monoio::io::AsyncWriteRent;

use crate::clock;

/// Most pieces given to one `writev` (Linux's `UIO_MAXIOV`); the rest go in the next calls.
const MAX_IOV: usize = 1024;

/// Where a piece's bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Src {
    /// A range of the own bytes.
    Own(Range<usize>),
    /// A range of held shared buffer `i`.
    Shared(usize, Range<usize>),
}

/// One message as pieces in wire order, and the buffers they point into.
#[derive(Default)]
pub struct IoVecs {
    own: Vec<u8>,
    held: Vec<Arc<[u8]>>,
    pieces: Vec<Src>,
    /// Lengths of `pieces` (what [`advance`] walks).
    lens: Vec<usize>,
    /// The first byte not written yet: piece index and offset in it.
    at: (usize, usize),
    /// The `iovec`s of the next `writev`, from `at` on (rebuilt before each call; they point
    /// into `own` and `held`, which go to the kernel with them in a `sys::IovBuf`).
    iovecs: Vec<libc::iovec>,
}

impl std::fmt::Debug for IoVecs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IoVecs").field("pieces", &self.pieces).field("at", &self.at).field("len", &self.len()).finish()
    }
}

impl IoVecs {
    /// Empties the message (the buffers keep their capacity, the shared ones stay held).
    pub fn clear(&mut self) {
        self.own.clear();
        self.pieces.clear();
        self.lens.clear();
        self.iovecs.clear();
        self.at = (0, 0);
    }

    /// Appends `bytes` (copied: headers and the varying parts of a message, a few bytes).
    pub fn push_own(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let from = self.own.len();
        self.own.extend_from_slice(bytes);
        match self.pieces.last_mut() {
            Some(Src::Own(r)) if r.end == from => {
                r.end = self.own.len();
                *self.lens.last_mut().expect("a length per piece") += bytes.len();
            }
            Some(Src::Own(_) | Src::Shared(..)) | None => {
                self.pieces.push(Src::Own(from..self.own.len()));
                self.lens.push(bytes.len());
            }
        }
    }

    /// Appends `of[range]`, not copied: `of` is held (cloned the first time only).
    pub fn push_shared(&mut self, of: &Arc<[u8]>, range: Range<usize>) {
        assert!(range.start <= range.end && range.end <= of.len(), "a range of the shared buffer");
        if range.is_empty() {
            return;
        }
        let i = match self.held.iter().position(|h| Arc::ptr_eq(h, of)) {
            Some(i) => i,
            None => {
                self.held.push(Arc::clone(of));
                self.held.len() - 1
            }
        };
        self.lens.push(range.len());
        self.pieces.push(Src::Shared(i, range));
    }

    /// Bytes of the whole message.
    pub fn len(&self) -> usize {
        self.lens.iter().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.lens.is_empty()
    }

    /// Bytes not written yet.
    fn remaining(&self) -> usize {
        self.lens[self.at.0.min(self.lens.len())..].iter().sum::<usize>() - self.at.1
    }

    /// The bytes of a piece.
    fn piece(&self, p: &Src) -> &[u8] {
        match p {
            Src::Own(r) => &self.own[r.clone()],
            Src::Shared(i, r) => &self.held[*i][r.clone()],
        }
    }

    /// The message in one piece (tests).
    pub fn to_vec(&self) -> Vec<u8> {
        self.pieces.iter().flat_map(|p| self.piece(p).iter().copied()).collect()
    }

    /// Points `iovecs` at the bytes from `at` on (at most [`MAX_IOV`] pieces).
    fn load(&mut self) {
        let mut iovecs = std::mem::take(&mut self.iovecs);
        iovecs.clear();
        let (first, skip) = self.at;
        for (k, p) in self.pieces.iter().enumerate().skip(first).take(MAX_IOV) {
            let b = &self.piece(p)[if k == first { skip } else { 0 }..];
            iovecs.push(libc::iovec { iov_base: b.as_ptr() as *mut libc::c_void, iov_len: b.len() });
        }
        self.iovecs = iovecs;
    }
}

/// Where the first unwritten byte is after `n` more bytes went out from `at` (piece, offset),
/// over pieces of lengths `lens` (none empty). Past the end: `(lens.len(), 0)`.
pub fn advance(lens: &[usize], at: (usize, usize), n: usize) -> (usize, usize) {
    let (mut i, mut off) = at;
    let mut n = n + off;
    off = 0;
    while i < lens.len() && n >= lens[i] {
        n -= lens[i];
        i += 1;
    }
    if i < lens.len() {
        off = n;
    }
    (i, off)
}

/// Writes all of `iov` and hands it back (cleared of nothing: the caller clears it to reuse).
pub async fn writev_all<S: AsyncWriteRent>(stream: &mut S, mut iov: IoVecs) -> (std::io::Result<()>, IoVecs) {
    iov.at = (0, 0);
    while iov.remaining() > 0 {
        iov.load();
        let iovecs = std::mem::take(&mut iov.iovecs);
        let (res, back) = stream.writev(crate::sys::IovBuf { iovecs, owner: iov }).await;
        iov = back.owner;
        iov.iovecs = back.iovecs;
        match res {
            Ok(0) => return (Err(std::io::ErrorKind::WriteZero.into()), iov),
            Ok(n) => iov.at = advance(&iov.lens, iov.at, n),
            Err(e) => return (Err(e), iov),
        }
    }
    (Ok(()), iov)
}

/// Writes all of `iov` unless clock time `until_ns` comes first (`None`; the connection must
/// then be closed: part of the bytes may be out, and the `IoVecs` is lost with the write).
pub async fn writev_until<S: AsyncWriteRent>(stream: &mut S, iov: IoVecs, until_ns: u64) -> Option<(std::io::Result<()>, IoVecs)> {
    let until = monoio::time::Instant::from_std(clock::instant_at(until_ns));
    monoio::time::timeout_at(until, writev_all(stream, iov)).await.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_walks_across_pieces() {
        let lens = [3, 5, 1, 4];
        assert_eq!(advance(&lens, (0, 0), 0), (0, 0));
        assert_eq!(advance(&lens, (0, 0), 2), (0, 2));
        assert_eq!(advance(&lens, (0, 0), 3), (1, 0));
        assert_eq!(advance(&lens, (0, 2), 1), (1, 0));
        assert_eq!(advance(&lens, (0, 2), 5), (1, 4));
        assert_eq!(advance(&lens, (1, 4), 1), (2, 0));
        assert_eq!(advance(&lens, (1, 4), 2), (3, 0));
        assert_eq!(advance(&lens, (1, 1), 8), (3, 3));
        assert_eq!(advance(&lens, (0, 0), 13), (4, 0));
        assert_eq!(advance(&lens, (3, 3), 1), (4, 0));
    }

    #[test]
    fn partial_writes_resume_where_they_stopped() {
        let shared: Arc<[u8]> = (0..=255u8).collect::<Vec<_>>().into();
        let mut iov = IoVecs::default();
        iov.push_own(b"head");
        iov.push_own(b"+");
        iov.push_shared(&shared, 10..20);
        iov.push_own(b"mid");
        iov.push_shared(&shared, 250..256);
        iov.push_shared(&shared, 0..0);
        assert_eq!(iov.pieces.len(), 4, "adjacent own bytes merge, empty pieces vanish");
        assert_eq!(Arc::strong_count(&shared), 2, "held once");
        let whole = iov.to_vec();
        assert_eq!(whole.len(), iov.len());
        // Any split of the writes resumes at the right byte.
        for step in 1..=whole.len() {
            let mut got = Vec::new();
            iov.at = (0, 0);
            while iov.remaining() > 0 {
                iov.load();
                let n = step.min(iov.remaining());
                let mut left = n;
                for v in &iov.iovecs {
                    let take = left.min(v.iov_len);
                    // Read back through the iovec's own pointer, as the kernel would.
                    let s = (0..iov.pieces.len()).map(|k| iov.piece(&iov.pieces[k])).find(|b| {
                        let (lo, hi) = (b.as_ptr() as usize, b.as_ptr() as usize + b.len());
                        (lo..hi).contains(&(v.iov_base as usize))
                    });
                    let b = s.expect("an iovec points into a piece");
                    let from = v.iov_base as usize - b.as_ptr() as usize;
                    got.extend_from_slice(&b[from..from + take]);
                    left -= take;
                    if left == 0 {
                        break;
                    }
                }
                iov.at = advance(&iov.lens, iov.at, n);
            }
            assert_eq!(got, whole, "step {step}");
        }
        iov.clear();
        iov.push_shared(&shared, 1..2);
        assert_eq!(Arc::strong_count(&shared), 2, "still held once after reuse");
        assert_eq!(iov.to_vec(), [1]);
    }
}
