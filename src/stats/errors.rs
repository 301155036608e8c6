//! Failure classes and, for protocol errors, their reasons: small `Copy` enums counted into
//! arrays on the hot path (never formatted there), named only when a report is written.

/// Why an answer could not be read as the protocol says (the reason of
/// [`ErrorClass::Protocol`]). Counted per reason: `protocol: too many headers`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProtocolReason {
    /// More header fields than `--max-headers`.
    TooManyHeaders,
    /// A head (or trailer section) longer than `--max-head`.
    HeadTooLarge,
    /// The status line is not `HTTP/1.x NNN reason` (or the status is below 100).
    BadStatusLine,
    /// A header field that is not `name: value`.
    BadHeader,
    BadContentLength,
    /// A chunk-size line that is not a hex number up to the value limit.
    BadChunkSize,
    /// Chunk data not followed by its line ending.
    BadChunk,
    /// A 1xx other than 100 and 103 (a 101 upgrade) in answer to a plain request.
    Unexpected1xx,
    /// A WebSocket frame that breaks RFC 6455 or the frame and message limits.
    BadFrame,
    /// A WebSocket echo that differs from the message sent.
    EchoMismatch,
    /// An answer (or a buffered unit) larger than the largest the protocol admits.
    TooLong,
    /// Any other malformed message (a streaming recogniser's, a chat frame).
    BadMessage,
    /// No pong to a heartbeat ping within its timeout (`ws --heartbeat`).
    NoPong,
}

impl ProtocolReason {
    pub const COUNT: usize = 13;
    pub const ALL: [ProtocolReason; Self::COUNT] = [
        ProtocolReason::TooManyHeaders,
        ProtocolReason::HeadTooLarge,
        ProtocolReason::BadStatusLine,
        ProtocolReason::BadHeader,
        ProtocolReason::BadContentLength,
        ProtocolReason::BadChunkSize,
        ProtocolReason::BadChunk,
        ProtocolReason::Unexpected1xx,
        ProtocolReason::BadFrame,
        ProtocolReason::EchoMismatch,
        ProtocolReason::TooLong,
        ProtocolReason::BadMessage,
        ProtocolReason::NoPong,
    ];

    /// The reason as reports name it (`protocol: too many headers`), also its JSON key.
    pub fn name(self) -> &'static str {
        match self {
            ProtocolReason::TooManyHeaders => "too many headers",
            ProtocolReason::HeadTooLarge => "head too large",
            ProtocolReason::BadStatusLine => "bad status line",
            ProtocolReason::BadHeader => "bad header",
            ProtocolReason::BadContentLength => "bad content-length",
            ProtocolReason::BadChunkSize => "bad chunk size",
            ProtocolReason::BadChunk => "bad chunk",
            ProtocolReason::Unexpected1xx => "unexpected 1xx",
            ProtocolReason::BadFrame => "bad frame",
            ProtocolReason::EchoMismatch => "echo mismatch",
            ProtocolReason::TooLong => "answer too long",
            ProtocolReason::BadMessage => "bad message",
            ProtocolReason::NoPong => "pong timeout",
        }
    }

    pub fn from_name(s: &str) -> Option<ProtocolReason> {
        Self::ALL.into_iter().find(|r| r.name() == s)
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// Failure classes. Hot path: a `Copy` index into a counter array, never a formatted string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorClass {
    Refused,
    ConnectTimeout,
    Reset,
    RequestTimeout,
    /// The answer broke the protocol, for this reason.
    Protocol(ProtocolReason),
    /// The protocol's opening was refused (a WebSocket upgrade answered without 101).
    Handshake,
    ClosedEarly,
    AddrUnavailable,
    FdLimit,
    Other,
    /// An answer arrived but failed a check (`raw --expect`, HTTP `--expect-*`).
    Check,
    /// The server's TLS certificate was rejected (unknown issuer, wrong name, expired).
    TlsCert,
    /// Any other TLS failure: a protocol error, an alert, no common version or cipher.
    Tls,
    /// Bytes no request asked for (HTTP, raw): an answer with nothing in flight, or more
    /// answers than requests. The connection is closed; counted once per connection closed.
    Unsolicited,
    /// An HTTP answer whose status is not a success (outside 200–399, or `--ok-status`):
    /// counted per code (`status 503: 400`).
    Status(u16),
    /// An answer that says the target throttled the request (`raw --throttled-match TEXT`): a
    /// failed request, the raw counterpart of an HTTP 429; judged by `throttled>1%`.
    Throttled,
}

impl ErrorClass {
    pub const COUNT: usize = 16;
    /// One of each class (the protocol class with a placeholder reason: only its slot counts).
    pub const ALL: [ErrorClass; Self::COUNT] = [
        ErrorClass::Refused,
        ErrorClass::ConnectTimeout,
        ErrorClass::Reset,
        ErrorClass::RequestTimeout,
        ErrorClass::Protocol(ProtocolReason::BadMessage),
        ErrorClass::Handshake,
        ErrorClass::ClosedEarly,
        ErrorClass::AddrUnavailable,
        ErrorClass::FdLimit,
        ErrorClass::Other,
        ErrorClass::Check,
        ErrorClass::TlsCert,
        ErrorClass::Tls,
        ErrorClass::Unsolicited,
        ErrorClass::Status(0),
        ErrorClass::Throttled,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::Refused => "refused",
            ErrorClass::ConnectTimeout => "connect_timeout",
            ErrorClass::Reset => "reset",
            ErrorClass::RequestTimeout => "request_timeout",
            ErrorClass::Protocol(_) => "protocol",
            ErrorClass::Handshake => "handshake",
            ErrorClass::ClosedEarly => "closed_early",
            ErrorClass::AddrUnavailable => "addr_unavailable",
            ErrorClass::FdLimit => "fd_limit",
            ErrorClass::Other => "other",
            ErrorClass::Check => "check_failed",
            ErrorClass::TlsCert => "tls_cert",
            ErrorClass::Tls => "tls",
            ErrorClass::Unsolicited => "unsolicited",
            ErrorClass::Status(_) => "status",
            ErrorClass::Throttled => "throttled",
        }
    }

    /// What to check when errors of this class show up, for the classes whose cause is usually
    /// the set-up rather than the target's load.
    pub fn hint(self) -> Option<&'static str> {
        Some(match self {
            ErrorClass::Refused => "nothing accepted the connection: is the target up, on this address and port (or socket path)?",
            ErrorClass::TlsCert => "the server's certificate is not trusted: pass --cacert FILE (its CA, PEM) or --insecure",
            ErrorClass::Tls => "TLS negotiation failed: does the target speak TLS on this port (https:// against a plain server)?",
            ErrorClass::FdLimit => "out of file descriptors: raise the limit (`stampede preflight` prints the fix) or use --processes",
            ErrorClass::AddrUnavailable => "out of ephemeral ports: add source addresses (--source 127.0.0.2,...) or widen the port range",
            ErrorClass::Unsolicited => {
                "the server sent answers no request asked for (two answers to one request, or a push): its answers were not trusted"
            }
            ErrorClass::ConnectTimeout
            | ErrorClass::Reset
            | ErrorClass::RequestTimeout
            | ErrorClass::Protocol(_)
            | ErrorClass::Handshake
            | ErrorClass::ClosedEarly
            | ErrorClass::Other
            | ErrorClass::Check
            | ErrorClass::Status(_)
            | ErrorClass::Throttled => return None,
        })
    }

    pub fn from_name(s: &str) -> Option<ErrorClass> {
        Self::ALL.into_iter().find(|c| c.name() == s)
    }

    /// What an OS error means for a load test.
    pub fn from_io(e: &std::io::Error) -> ErrorClass {
        if let Some(c) = e.get_ref().and_then(|inner| inner.downcast_ref::<Classified>()) {
            return c.class;
        }
        match e.raw_os_error() {
            // ENOENT: a Unix socket path where nothing listens (any more).
            Some(libc::ECONNREFUSED | libc::ENOENT) => ErrorClass::Refused,
            Some(libc::ETIMEDOUT) => ErrorClass::ConnectTimeout,
            Some(libc::ECONNRESET | libc::EPIPE | libc::ECONNABORTED) => ErrorClass::Reset,
            Some(libc::EADDRNOTAVAIL | libc::EADDRINUSE) => ErrorClass::AddrUnavailable,
            Some(libc::EMFILE | libc::ENFILE) => ErrorClass::FdLimit,
            _ => match e.kind() {
                std::io::ErrorKind::UnexpectedEof => ErrorClass::ClosedEarly,
                std::io::ErrorKind::TimedOut => ErrorClass::RequestTimeout,
                _ => ErrorClass::Other,
            },
        }
    }

    /// The slot of the class in a counter array (every protocol reason shares one, every
    /// failed status too).
    pub(crate) fn index(self) -> usize {
        match self {
            ErrorClass::Refused => 0,
            ErrorClass::ConnectTimeout => 1,
            ErrorClass::Reset => 2,
            ErrorClass::RequestTimeout => 3,
            ErrorClass::Protocol(_) => 4,
            ErrorClass::Handshake => 5,
            ErrorClass::ClosedEarly => 6,
            ErrorClass::AddrUnavailable => 7,
            ErrorClass::FdLimit => 8,
            ErrorClass::Other => 9,
            ErrorClass::Check => 10,
            ErrorClass::TlsCert => 11,
            ErrorClass::Tls => 12,
            ErrorClass::Unsolicited => 13,
            ErrorClass::Status(_) => 14,
            ErrorClass::Throttled => 15,
        }
    }
}

/// An I/O error whose class is already known (a TLS failure), carried inside `io::Error`;
/// [`ErrorClass::from_io`] reads it back.
#[derive(Debug)]
pub struct Classified {
    pub class: ErrorClass,
    pub message: String,
}

impl std::fmt::Display for Classified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Classified {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_and_reason_has_its_own_slot_and_name() {
        for (i, c) in ErrorClass::ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
            assert_eq!(ErrorClass::from_name(c.name()).map(ErrorClass::index), Some(i));
        }
        for (i, r) in ProtocolReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
            assert_eq!(ProtocolReason::from_name(r.name()), Some(*r));
        }
    }
}
