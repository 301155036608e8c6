//! Buffers a worker lends to its connections, so a connection with nothing to read (or write)
//! holds none: it waits for readability without a buffer ([`Readable`]), borrows one for the
//! read, and gives it back when its bytes are used. A partial message keeps only its own bytes,
//! in a right-sized `Vec` ([`Lender::settle`]).
//!
//! Choice (monoio 0.2.4): readiness (`POLL_ADD` on io_uring, the readiness state on epoll) and
//! then a read into a lent buffer, not io_uring provided-buffer rings: monoio 0.2.4 has no
//! buffer-select reads, and readiness works the same on both drivers. A connection that is
//! busy (an answer is due, a message is half in) keeps its buffer and reads without the wait.
//!
//! One lender per worker thread (no atomics, no sharing); [`Lender::lent`] counts the buffers
//! out on loan, for tests and the `serve` stats.

use std::cell::{Cell, RefCell};

/// Most buffers a lender keeps for the next borrower (the rest are freed).
const MAX_KEPT: usize = 64;

/// A worker's pool of read and write buffers.
#[derive(Default)]
pub struct Lender {
    free: RefCell<Vec<Vec<u8>>>,
    lent: Cell<u64>,
}

impl Lender {
    pub fn new() -> Lender {
        Lender::default()
    }

    /// An empty buffer of at least `cap` bytes of capacity, from the pool when one is there.
    pub fn take(&self, cap: usize) -> Vec<u8> {
        self.lent.set(self.lent.get() + 1);
        match self.free.borrow_mut().pop() {
            Some(mut b) => {
                b.reserve_exact(cap);
                b
            }
            None => Vec::with_capacity(cap),
        }
    }

    /// Takes back a buffer of [`Lender::take`] (its bytes are dropped). A buffer that was moved
    /// out and left empty (written and dropped) is still counted back.
    pub fn give(&self, mut b: Vec<u8>) {
        self.lent.set(self.lent.get().saturating_sub(1));
        let mut free = self.free.borrow_mut();
        if b.capacity() > 0 && free.len() < MAX_KEPT {
            b.clear();
            free.push(b);
        }
    }

    /// After the bytes of `buf` were used: an empty buffer goes back to the pool (`buf` holds
    /// nothing then); a remainder (a partial message) moves into a right-sized `Vec` and the
    /// lent buffer goes back. [`Lender::lend`] prepares it for the next read. `buf` must be lent.
    pub fn settle(&self, buf: &mut Vec<u8>) {
        let b = std::mem::take(buf);
        if !b.is_empty() {
            *buf = b.as_slice().to_vec();
        }
        self.give(b);
    }

    /// Makes `buf` a lent buffer of at least `cap` bytes that holds what it held (a remainder
    /// of [`Lender::settle`], or nothing): call it once after each `settle`, before the read.
    pub fn lend(&self, buf: &mut Vec<u8>, cap: usize) {
        let mut b = self.take(cap.max(buf.len() * 2));
        b.extend_from_slice(buf);
        *buf = b;
    }

    /// Buffers out on loan now.
    pub fn lent(&self) -> u64 {
        self.lent.get()
    }
}

/// A connection's buffer on loan from its worker's [`Lender`], given back when dropped. Between
/// [`Loan::settle`] and [`Loan::lend`] it is not lent: empty, or a partial message's bytes in a
/// right-sized `Vec`.
pub struct Loan<'a> {
    lender: &'a Lender,
    buf: Vec<u8>,
    lent: bool,
}

impl<'a> Loan<'a> {
    /// Nothing lent yet.
    pub fn new(lender: &'a Lender) -> Loan<'a> {
        Loan { lender, buf: Vec::new(), lent: false }
    }

    /// Gives the buffer back; keeps only its bytes (right-sized) when it holds some. A buffer of
    /// its own (filled while not lent) is freed when empty.
    pub fn settle(&mut self) {
        if std::mem::take(&mut self.lent) {
            self.lender.settle(&mut self.buf);
        } else if self.buf.is_empty() && self.buf.capacity() > 0 {
            self.buf = Vec::new();
        }
    }

    /// Borrows a buffer of at least `cap` bytes holding the bytes kept (no-op when lent).
    pub fn lend(&mut self, cap: usize) {
        if !self.lent {
            self.lender.lend(&mut self.buf, cap);
            self.lent = true;
        }
    }

    /// True while a lent buffer is held.
    pub fn is_lent(&self) -> bool {
        self.lent
    }

    /// The lender this loan is from (for a second loan of the same connection).
    pub fn lender(&self) -> &'a Lender {
        self.lender
    }
}

impl std::ops::Deref for Loan<'_> {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.buf
    }
}

impl std::ops::DerefMut for Loan<'_> {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }
}

impl Drop for Loan<'_> {
    fn drop(&mut self) {
        if self.lent {
            self.lender.give(std::mem::take(&mut self.buf));
        }
    }
}

/// A transport that can wait until it has bytes to read, holding no buffer meanwhile.
pub trait Readable {
    /// Resolves when a read would find bytes (or the end of the stream, or an error: the read
    /// reports it). A transport that cannot wait without reading (TLS: records are decrypted
    /// into its own buffers) resolves at once, and its read holds the buffer until bytes come.
    fn readable(&self) -> impl std::future::Future<Output = ()>;
}

impl Readable for monoio::net::TcpStream {
    async fn readable(&self) {
        let _ = monoio::net::TcpStream::readable(self, true).await;
    }
}

impl Readable for monoio::net::UnixStream {
    async fn readable(&self) {
        let _ = monoio::net::UnixStream::readable(self, true).await;
    }
}

impl<T: Readable> Readable for monoio::io::OwnedReadHalf<T> {
    async fn readable(&self) {
        crate::sys::read_half_stream(self).readable().await
    }
}

impl<T> Readable for crate::net::tls::TlsStream<T> {
    async fn readable(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loan_is_counted_until_it_settles_empty_or_is_dropped() {
        let lender = Lender::new();
        let mut a = Loan::new(&lender);
        assert_eq!(lender.lent(), 0, "nothing lent before the first read");
        a.lend(4096);
        assert!(a.capacity() >= 4096 && a.is_lent());
        assert_eq!(lender.lent(), 1);
        a.extend_from_slice(b"GET / HTTP/1.1\r\n");
        a.settle();
        assert_eq!(lender.lent(), 0, "a partial request keeps no lent buffer");
        assert_eq!(&a[..], b"GET / HTTP/1.1\r\n", "its bytes stay");
        assert_eq!(a.capacity(), a.len(), "in a right-sized Vec");
        a.lend(4096);
        assert_eq!(&a[..], b"GET / HTTP/1.1\r\n", "lent again with the bytes kept in front");
        assert!(a.capacity() >= 4096);
        a.clear();
        a.settle();
        assert_eq!((a.capacity(), lender.lent()), (0, 0), "idle: nothing held");
        a.lend(4096);
        let mut b = Loan::new(&lender);
        b.lend(4096);
        assert_eq!(lender.lent(), 2);
        drop(std::mem::take(&mut *b)); // a buffer moved out (written) still counts back
        drop(b);
        drop(a);
        assert_eq!(lender.lent(), 0);
        assert!(!lender.free.borrow().is_empty(), "the buffers are kept for the next reads");
    }

    #[test]
    fn the_pool_keeps_a_bounded_number_of_buffers() {
        let lender = Lender::new();
        let taken: Vec<_> = (0..MAX_KEPT + 10).map(|_| lender.take(16)).collect();
        assert_eq!(lender.lent(), (MAX_KEPT + 10) as u64);
        taken.into_iter().for_each(|b| lender.give(b));
        assert_eq!(lender.free.borrow().len(), MAX_KEPT);
        assert_eq!(lender.lent(), 0);
    }
}
