//! TLS over any monoio stream, with rustls driven as a sans-IO state machine.
//!
//! [`TlsStream`] owns the transport and two ciphertext buffers: bytes read from the socket are fed
//! to rustls, bytes rustls produces are written out with the same owned-buffer writes as the
//! plain path. It implements monoio's `AsyncReadRent`/`AsyncWriteRent`, so every scenario and the
//! embedded server run over it unchanged. Plaintext is copied once each way (into rustls to be
//! encrypted, out of rustls into the caller's buffer): a fixed request cannot be sent zero-copy
//! under TLS.
//!
//! Also here: the client and server configurations (ring provider, ALPN `http/1.1`, session
//! resumption on both sides, `--insecure`, `--cacert`, a generated CA and certificate for
//! `serve --tls-self-signed`), and the classification of TLS failures into error classes.

use std::cell::RefCell;
use std::io::{self, BufRead, Write};
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut, IoVecWrapper, IoVecWrapperMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, Splitable};
use monoio::BufResult;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, ServerConfig, ServerConnection, SignatureScheme};

use crate::stats::{Classified, ErrorClass};

/// Largest ciphertext read buffer: one full TLS record (16 KiB of data plus header and tag).
const RX_BUF: usize = 16 * 1024 + 512;
/// First ciphertext read buffer; it grows to [`RX_BUF`] after a read that fills it. Small answers
/// never need more, and idle connections then hold 4 KiB here instead of 16.
const RX_FIRST: usize = 4 * 1024;
/// ALPN: stampede speaks HTTP/1.1 (WebSocket upgrades included) over TLS.
const ALPN_HTTP1: &[u8] = b"http/1.1";
/// Sessions the embedded server remembers for resumption.
const SERVER_SESSIONS: usize = 64 * 1024;

/// A TLS connection over the stream `S`.
pub struct TlsStream<S> {
    io: S,
    core: Core,
    /// Ciphertext read from `io`, not yet handed to rustls.
    rx: Vec<u8>,
    /// Ciphertext produced by rustls, not yet written to `io`.
    tx: Vec<u8>,
}

/// The rustls state and whether the transport reached its end.
pub struct Core {
    conn: rustls::Connection,
    eof: bool,
}

/// Access to the [`Core`]: owned by a whole stream, shared by the two halves of a split one.
/// Never held across an await, so the halves cannot both hold it.
trait WithCore {
    fn with<R>(&mut self, f: impl FnOnce(&mut Core) -> R) -> R;
}

impl WithCore for Core {
    fn with<R>(&mut self, f: impl FnOnce(&mut Core) -> R) -> R {
        f(self)
    }
}

impl WithCore for Rc<RefCell<Core>> {
    fn with<R>(&mut self, f: impl FnOnce(&mut Core) -> R) -> R {
        f(&mut self.borrow_mut())
    }
}

/// What a completed client handshake was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handshake {
    /// The session was resumed (no certificate exchange).
    pub resumed: bool,
}

impl<S: AsyncReadRent + AsyncWriteRent> TlsStream<S> {
    /// Runs a client handshake over `io` for `name` (SNI and certificate check).
    pub async fn connect(io: S, config: Arc<ClientConfig>, name: ServerName<'static>) -> io::Result<(TlsStream<S>, Handshake)> {
        let conn = ClientConnection::new(config, name).map_err(tls_error)?;
        let mut s = TlsStream::new(io, conn.into());
        // The client's last flight (its Finished) stays queued: it leaves with the first request,
        // in the same segment, instead of a packet of its own.
        s.handshake(false).await?;
        let resumed = s.core.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
        Ok((s, Handshake { resumed }))
    }

    /// Runs a server handshake over an accepted `io`.
    pub async fn accept(io: S, config: Arc<ServerConfig>) -> io::Result<TlsStream<S>> {
        let conn = ServerConnection::new(config).map_err(tls_error)?;
        let mut s = TlsStream::new(io, conn.into());
        s.handshake(true).await?;
        Ok(s)
    }

    fn new(io: S, conn: rustls::Connection) -> TlsStream<S> {
        TlsStream { io, core: Core { conn, eof: false }, rx: Vec::with_capacity(RX_FIRST), tx: Vec::new() }
    }

    /// The transport under the TLS layer.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// The negotiated ALPN protocol, if any.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.core.conn.alpn_protocol()
    }

    /// Drives the handshake to its end; `flush_last`: also write the last flight now.
    async fn handshake(&mut self, flush_last: bool) -> io::Result<()> {
        while self.core.conn.is_handshaking() {
            if self.core.conn.wants_write() {
                write_tx(&mut self.core, &mut self.io, &mut self.tx).await?;
            } else if !read_rx(&mut self.core, &mut self.io, &mut self.rx).await? {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the peer closed during the TLS handshake"));
            }
        }
        if flush_last {
            write_tx(&mut self.core, &mut self.io, &mut self.tx).await?;
        }
        Ok(())
    }
}

impl<S: AsyncReadRent + AsyncWriteRent + Splitable> TlsStream<S>
where
    S::OwnedRead: AsyncReadRent,
    S::OwnedWrite: AsyncWriteRent,
{
    /// A read half and a write half that can be used at once from two tasks (a streaming
    /// session's sender and receiver). The read half never writes: what rustls wants to send
    /// after reading (rare for a client), or a client's Finished when nothing was written since
    /// the handshake, goes out with the next write. Split after the first write.
    pub fn into_split(self) -> (TlsReadHalf<S::OwnedRead>, TlsWriteHalf<S::OwnedWrite>) {
        let (r, w) = self.io.into_split();
        let core = Rc::new(RefCell::new(self.core));
        (TlsReadHalf { io: r, core: Rc::clone(&core), rx: self.rx }, TlsWriteHalf { io: w, core, tx: self.tx })
    }
}

/// The read half of a split [`TlsStream`].
pub struct TlsReadHalf<R> {
    io: R,
    core: Rc<RefCell<Core>>,
    rx: Vec<u8>,
}

/// The write half of a split [`TlsStream`].
pub struct TlsWriteHalf<W> {
    io: W,
    core: Rc<RefCell<Core>>,
    tx: Vec<u8>,
}

/// Writes out everything rustls has queued.
async fn write_tx<C: WithCore, W: AsyncWriteRent>(core: &mut C, io: &mut W, tx: &mut Vec<u8>) -> io::Result<()> {
    core.with(|c| {
        while c.conn.wants_write() {
            c.conn.write_tls(tx)?;
        }
        Ok::<_, io::Error>(())
    })?;
    if tx.is_empty() {
        return Ok(());
    }
    let (res, mut buf) = io.write_all(std::mem::take(tx)).await;
    buf.clear();
    *tx = buf;
    res.map(|_| ())
}

/// Reads ciphertext and processes it. `Ok(false)`: the transport is at end of stream.
async fn read_rx<C: WithCore, R: AsyncReadRent>(core: &mut C, io: &mut R, rx: &mut Vec<u8>) -> io::Result<bool> {
    if rx.is_empty() {
        if core.with(|c| c.eof) {
            return Ok(false);
        }
        if rx.capacity() == 0 {
            rx.reserve_exact(RX_FIRST); // the buffer went with a cancelled read
        }
        let (res, buf) = crate::net::read_more(io, std::mem::take(rx)).await;
        *rx = buf;
        let n = res?;
        if n == rx.capacity() && n < RX_BUF {
            rx.reserve_exact(RX_BUF - n); // bulk data: read whole records from now on
        }
        if n == 0 {
            // Tells rustls the transport closed: its reader then reports the end.
            return core.with(|c| {
                c.eof = true;
                c.conn.read_tls(&mut io::empty())?;
                c.process().map(|_| false)
            });
        }
    }
    core.with(|c| {
        let mut input = &rx[..];
        let used = c.conn.read_tls(&mut input)?;
        rx.drain(..used);
        c.process().map(|_| true)
    })
}

impl Core {
    /// Processes received records; a failure is an error of its TLS class (the alert rustls
    /// queued for the peer is dropped with the connection).
    fn process(&mut self) -> io::Result<()> {
        self.conn.process_new_packets().map(|_| ()).map_err(tls_error)
    }

    /// Copies decrypted bytes into `buf`: `Some(n)` (0 at the end of the stream), or `None` when
    /// none are ready.
    fn take_plain<T: IoBufMut>(&mut self, buf: &mut T) -> Option<io::Result<usize>> {
        let mut reader = self.conn.reader();
        match reader.fill_buf() {
            Ok([]) => Some(Ok(0)), // close_notify
            Ok(chunk) => {
                let n = crate::sys::fill_io_buf(buf, chunk);
                reader.consume(n);
                Some(Ok(n))
            }
            // A peer that closes without close_notify: the end of the stream, as on plain TCP
            // (answers delimited by the close still complete).
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Some(Ok(0)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
            Err(e) => Some(Err(e)),
        }
    }
}

/// Reads decrypted bytes into `buf`, reading and processing ciphertext until some are ready.
async fn read_plain<C: WithCore, R: AsyncReadRent, T: IoBufMut>(
    core: &mut C,
    io: &mut R,
    rx: &mut Vec<u8>,
    mut buf: T,
) -> BufResult<usize, T> {
    loop {
        if let Some(res) = core.with(|c| c.take_plain(&mut buf)) {
            return (res, buf);
        }
        if let Err(e) = read_rx(core, io, rx).await {
            return (Err(e), buf);
        }
    }
}

/// Encrypts what rustls takes of `buf` and writes it out.
async fn write_plain<C: WithCore, W: AsyncWriteRent, T: IoBuf>(core: &mut C, io: &mut W, tx: &mut Vec<u8>, buf: T) -> BufResult<usize, T> {
    let n = match core.with(|c| c.conn.writer().write(crate::sys::io_buf_bytes(&buf))) {
        Ok(n) => n,
        Err(e) => return (Err(e), buf),
    };
    (write_tx(core, io, tx).await.map(|_| n), buf)
}

impl<S: AsyncReadRent + AsyncWriteRent> AsyncReadRent for TlsStream<S> {
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        // A client that reads first still sends its Finished before waiting for the server.
        if self.core.conn.wants_write() {
            if let Err(e) = write_tx(&mut self.core, &mut self.io, &mut self.tx).await {
                return (Err(e), buf);
            }
        }
        let (res, buf) = read_plain(&mut self.core, &mut self.io, &mut self.rx, buf).await;
        // A key update may want an answer.
        if res.is_ok() && self.core.conn.wants_write() {
            if let Err(e) = write_tx(&mut self.core, &mut self.io, &mut self.tx).await {
                return (Err(e), buf);
            }
        }
        (res, buf)
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        readv_first(self, buf).await
    }
}

impl<S: AsyncReadRent + AsyncWriteRent> AsyncWriteRent for TlsStream<S> {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        write_plain(&mut self.core, &mut self.io, &mut self.tx, buf).await
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        writev_first(self, buf).await
    }

    async fn flush(&mut self) -> io::Result<()> {
        flush(&mut self.core, &mut self.io, &mut self.tx).await
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        shutdown(&mut self.core, &mut self.io, &mut self.tx).await
    }
}

impl<R: AsyncReadRent> AsyncReadRent for TlsReadHalf<R> {
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        read_plain(&mut self.core, &mut self.io, &mut self.rx, buf).await
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        readv_first(self, buf).await
    }
}

impl<W: AsyncWriteRent> AsyncWriteRent for TlsWriteHalf<W> {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        write_plain(&mut self.core, &mut self.io, &mut self.tx, buf).await
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        writev_first(self, buf).await
    }

    async fn flush(&mut self) -> io::Result<()> {
        flush(&mut self.core, &mut self.io, &mut self.tx).await
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        shutdown(&mut self.core, &mut self.io, &mut self.tx).await
    }
}

/// `readv` as a read into the first buffer of the vector (what a TLS reader can fill at once).
async fn readv_first<R: AsyncReadRent, T: IoVecBufMut>(r: &mut R, buf: T) -> BufResult<usize, T> {
    match IoVecWrapperMut::new(buf) {
        Ok(first) => {
            let (res, first) = r.read(first).await;
            (res, first.into_inner())
        }
        Err(buf) => (Ok(0), buf),
    }
}

/// `writev` as a write of the first buffer of the vector.
async fn writev_first<W: AsyncWriteRent, T: IoVecBuf>(w: &mut W, buf: T) -> BufResult<usize, T> {
    match IoVecWrapper::new(buf) {
        Ok(first) => {
            let (res, first) = w.write(first).await;
            (res, first.into_inner())
        }
        Err(buf) => (Ok(0), buf),
    }
}

async fn flush<C: WithCore, W: AsyncWriteRent>(core: &mut C, io: &mut W, tx: &mut Vec<u8>) -> io::Result<()> {
    write_tx(core, io, tx).await?;
    io.flush().await
}

/// Sends close_notify, then shuts the transport's write side.
async fn shutdown<C: WithCore, W: AsyncWriteRent>(core: &mut C, io: &mut W, tx: &mut Vec<u8>) -> io::Result<()> {
    core.with(|c| c.conn.send_close_notify());
    write_tx(core, io, tx).await?;
    io.shutdown().await
}

/// A TLS failure as an I/O error that carries its class: a certificate the client rejects is
/// `tls_cert`, any other TLS failure (protocol, alert, version) `tls`.
pub fn tls_error(e: rustls::Error) -> io::Error {
    let (class, message) = match &e {
        rustls::Error::InvalidCertificate(rustls::CertificateError::Other(why)) if is_ca_as_end_entity(why) => (
            ErrorClass::TlsCert,
            "the server's certificate is self-signed and marked as a CA: trust exactly that certificate with --cacert FILE, or use --insecure"
                .to_string(),
        ),
        rustls::Error::InvalidCertificate(why) => (ErrorClass::TlsCert, format!("the server's certificate was rejected: {why}")),
        rustls::Error::NoCertificatesPresented => (ErrorClass::TlsCert, "the server presented no certificate".to_string()),
        _ => (ErrorClass::Tls, format!("TLS failed: {e}")),
    };
    io::Error::other(Classified { class, message })
}

/// Client configuration: ring provider, TLS 1.2 and 1.3, ALPN `http/1.1`, and resumption from an
/// in-memory session cache shared by every connection, holding up to `resume_tickets` TLS 1.3
/// tickets per server (0: no resumption). Certificates are checked against `cacert` (PEM; it
/// replaces the built-in roots, as curl's `--cacert` does) or Mozilla's roots; `insecure`
/// checks nothing.
pub fn client_config(insecure: bool, cacert: Option<&Path>, resume_tickets: usize) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder =
        ClientConfig::builder_with_provider(Arc::clone(&provider)).with_safe_default_protocol_versions().map_err(|e| e.to_string())?;
    let mut config = if insecure {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(NoVerify(provider))).with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        let mut pinned = Vec::new();
        match cacert {
            Some(path) => {
                for cert in read_certs(path)? {
                    roots.add(cert.clone()).map_err(|e| format!("{}: not a usable CA certificate: {e}", path.display()))?;
                    pinned.push(cert);
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
            .build()
            .map_err(|e| e.to_string())?;
        builder.dangerous().with_custom_certificate_verifier(Arc::new(Verifier { webpki, pinned })).with_no_client_auth()
    };
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    config.resumption = if resume_tickets == 0 {
        rustls::client::Resumption::disabled()
    } else {
        rustls::client::Resumption::store(Arc::new(SessionStore::new(resume_tickets)))
    };
    Ok(Arc::new(config))
}

/// The client's session cache. rustls's own keeps 8 TLS 1.3 tickets per server, and a ticket
/// serves one resumption: 64 connections reconnecting at once found one for 1 handshake in 5
/// (measured against `serve --tls-self-signed`, one request per connection). This one keeps up
/// to `per_server` tickets (the run's connection count), oldest dropped first.
struct SessionStore {
    per_server: usize,
    /// By server name (as text: a borrowed `ServerName` cannot look up an owned key).
    servers: std::sync::Mutex<std::collections::HashMap<String, Sessions>>,
}

#[derive(Default)]
struct Sessions {
    kx_hint: Option<rustls::NamedGroup>,
    tls12: Option<rustls::client::Tls12ClientSessionValue>,
    tls13: std::collections::VecDeque<rustls::client::Tls13ClientSessionValue>,
}

impl SessionStore {
    fn new(per_server: usize) -> SessionStore {
        SessionStore { per_server: per_server.max(1), servers: Default::default() }
    }

    fn with<R>(&self, name: &ServerName<'_>, f: impl FnOnce(&mut Sessions) -> R) -> R {
        let mut servers = self.servers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = name.to_str();
        match servers.get_mut(key.as_ref()) {
            Some(s) => f(s),
            None => f(servers.entry(key.into_owned()).or_default()),
        }
    }
}

impl std::fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionStore").field("per_server", &self.per_server).finish_non_exhaustive()
    }
}

impl rustls::client::ClientSessionStore for SessionStore {
    fn set_kx_hint(&self, name: ServerName<'static>, group: rustls::NamedGroup) {
        self.with(&name, |s| s.kx_hint = Some(group));
    }

    fn kx_hint(&self, name: &ServerName<'_>) -> Option<rustls::NamedGroup> {
        self.with(name, |s| s.kx_hint)
    }

    fn set_tls12_session(&self, name: ServerName<'static>, value: rustls::client::Tls12ClientSessionValue) {
        self.with(&name, |s| s.tls12 = Some(value));
    }

    fn tls12_session(&self, name: &ServerName<'_>) -> Option<rustls::client::Tls12ClientSessionValue> {
        self.with(name, |s| s.tls12.clone())
    }

    fn remove_tls12_session(&self, name: &ServerName<'static>) {
        self.with(name, |s| s.tls12 = None);
    }

    fn insert_tls13_ticket(&self, name: ServerName<'static>, value: rustls::client::Tls13ClientSessionValue) {
        let cap = self.per_server;
        self.with(&name, |s| {
            if s.tls13.len() >= cap {
                s.tls13.pop_front();
            }
            s.tls13.push_back(value);
        });
    }

    fn take_tls13_ticket(&self, name: &ServerName<'static>) -> Option<rustls::client::Tls13ClientSessionValue> {
        // The newest first: it has the longest to live.
        self.with(name, |s| s.tls13.pop_back())
    }
}

/// Server configuration for the embedded target: ALPN `http/1.1`, resumption by session ID and
/// by stateless tickets.
pub fn server_config(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Result<Arc<ServerConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("the certificate and key cannot be used together: {e}"))?;
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(SERVER_SESSIONS);
    config.ticketer = rustls::crypto::ring::Ticketer::new().map_err(|e| e.to_string())?;
    Ok(Arc::new(config))
}

/// Every certificate in a PEM file.
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certs =
        CertificateDer::pem_slice_iter(&bytes).collect::<Result<Vec<_>, _>>().map_err(|e| format!("{}: bad PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in it (expected PEM '-----BEGIN CERTIFICATE-----')", path.display()));
    }
    Ok(certs)
}

/// The private key in a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| format!("{}: no usable private key in it ({e})", path.display()))
}

/// A generated certificate authority and a server certificate it signed for `localhost`,
/// `127.0.0.1` and `::1`: what `serve --tls-self-signed` serves. Clients trust it with
/// `--cacert` on `ca_pem` written to a file, or skip the check with `--insecure`.
pub struct SelfSigned {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl SelfSigned {
    pub fn generate() -> Result<SelfSigned, String> {
        let err = |e: rcgen::Error| format!("cannot generate a certificate: {e}");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "stampede test CA");
        let ca_key = rcgen::KeyPair::generate().map_err(err)?;
        let ca = ca_params.self_signed(&ca_key).map_err(err)?;
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
        let mut params = rcgen::CertificateParams::new(names).map_err(err)?;
        params.distinguished_name.push(rcgen::DnType::CommonName, "localhost");
        let key = rcgen::KeyPair::generate().map_err(err)?;
        let cert = params.signed_by(&key, &ca, &ca_key).map_err(err)?;
        Ok(SelfSigned { ca_pem: ca.pem(), cert_pem: format!("{}{}", cert.pem(), ca.pem()), key_pem: key.serialize_pem() })
    }

    /// The server's configuration for this certificate.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, String> {
        let chain = CertificateDer::pem_slice_iter(self.cert_pem.as_bytes()).collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?;
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).map_err(|e| e.to_string())?;
        server_config(chain, key)
    }
}

/// webpki's refusal of a certificate marked as a CA in the server's own place.
fn is_ca_as_end_entity(e: &rustls::OtherError) -> bool {
    matches!(e.0.downcast_ref::<webpki::Error>(), Some(webpki::Error::CaUsedAsEndEntity))
}

/// The standard chain and name check, plus one case curl and openssl accept and webpki refuses:
/// a self-signed certificate marked as a CA (what `openssl req -x509` makes) served as the
/// server's own certificate, when `--cacert` holds exactly that certificate.
#[derive(Debug)]
struct Verifier {
    webpki: Arc<rustls::client::WebPkiServerVerifier>,
    /// The certificates of `--cacert`.
    pinned: Vec<CertificateDer<'static>>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(e)))
                if is_ca_as_end_entity(&e) && self.pinned.iter().any(|p| p.as_ref() == end_entity.as_ref()) =>
            {
                // Pinned: trusted as it is; the name must still match.
                let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
                rustls::client::verify_server_name(&parsed, server_name)?;
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// `--insecure`: accepts any certificate (signatures are still checked, so the handshake
/// costs what a verified one does apart from the chain check).
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use monoio::io::AsyncReadRentExt;
    use monoio::net::{TcpListener, TcpStream};

    fn run<Fut: std::future::Future>(f: impl FnOnce() -> Fut) -> Fut::Output {
        crate::engine::runtime::block_on(f).unwrap().1
    }

    fn ca_file(cert: &SelfSigned) -> tempfile_path::TempPath {
        tempfile_path::TempPath::with(cert.ca_pem.as_bytes())
    }

    /// A minimal temporary file for the CA certificate (removed on drop).
    mod tempfile_path {
        pub struct TempPath(pub std::path::PathBuf);
        impl TempPath {
            pub fn with(bytes: &[u8]) -> TempPath {
                static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let p = std::env::temp_dir().join(format!("stampede-tls-test-{}-{n}.pem", std::process::id()));
                std::fs::write(&p, bytes).unwrap();
                TempPath(p)
            }
        }
        impl Drop for TempPath {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
    }

    /// Accepts `n` TLS connections and echoes each one's bytes until it closes.
    async fn echo_server(listener: TcpListener, config: Arc<ServerConfig>, n: usize) {
        for _ in 0..n {
            let (tcp, _) = listener.accept().await.unwrap();
            let Ok(mut tls) = TlsStream::accept(tcp, Arc::clone(&config)).await else { continue };
            let mut buf = Vec::with_capacity(8192);
            loop {
                let (res, b) = tls.read(buf).await;
                match res {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let (res, mut b) = tls.write_all(b).await;
                        res.unwrap();
                        b.clear();
                        buf = b;
                    }
                }
            }
        }
    }

    fn name() -> ServerName<'static> {
        ServerName::try_from("localhost").unwrap()
    }

    #[test]
    fn echo_over_tls_with_resumption_and_split_halves() {
        let cert = SelfSigned::generate().unwrap();
        let ca = ca_file(&cert);
        let server = cert.server_config().unwrap();
        let client = client_config(false, Some(&ca.0), 64).unwrap();
        run(|| async move {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            monoio::spawn(echo_server(listener, server, 3));
            // 1: a full handshake; 200 KiB through, so records and reads split at every size.
            let tcp = TcpStream::connect(addr).await.unwrap();
            let (mut tls, hs) = TlsStream::connect(tcp, Arc::clone(&client), name()).await.unwrap();
            assert!(!hs.resumed);
            assert_eq!(tls.alpn(), Some(&b"http/1.1"[..]));
            let data: Vec<u8> = (0..200 * 1024u32).map(|i| (i % 251) as u8).collect();
            let (res, _) = tls.write_all(data.clone()).await;
            res.unwrap();
            let (res, got) = tls.read_exact(vec![0u8; data.len()]).await;
            res.unwrap();
            assert!(got == data, "echoed bytes differ");
            tls.shutdown().await.unwrap();
            // 2: the next connection resumes the session.
            let tcp = TcpStream::connect(addr).await.unwrap();
            let (tls, hs) = TlsStream::connect(tcp, Arc::clone(&client), name()).await.unwrap();
            assert!(hs.resumed, "second handshake was not resumed");
            // Split: a writer task and a reader task on one connection at once.
            let (mut rd, mut wr) = tls.into_split();
            let reader = monoio::spawn(async move {
                let (res, got) = rd.read_exact(vec![0u8; 64 * 1000]).await;
                res.unwrap();
                got
            });
            for k in 0..1000u32 {
                let (res, _) = wr.write_all(vec![(k % 256) as u8; 64]).await;
                res.unwrap();
            }
            let got = reader.await;
            assert!(got.chunks(64).enumerate().all(|(k, c)| c.iter().all(|b| *b == (k % 256) as u8)));
            wr.shutdown().await.unwrap();
            // 3: without resumption every handshake is a full one.
            let fresh = client_config(false, Some(&ca.0), 0).unwrap();
            let tcp = TcpStream::connect(addr).await.unwrap();
            let (_, hs) = TlsStream::connect(tcp, fresh, name()).await.unwrap();
            assert!(!hs.resumed);
        });
    }

    #[test]
    fn certificate_failures_are_their_own_class_and_insecure_skips_the_check() {
        let cert = SelfSigned::generate().unwrap();
        let ca = ca_file(&cert);
        let server = cert.server_config().unwrap();
        run(|| async move {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            monoio::spawn(echo_server(listener, server, 4));
            // Mozilla's roots do not know the generated CA.
            let tcp = TcpStream::connect(addr).await.unwrap();
            let e = TlsStream::connect(tcp, client_config(false, None, 64).unwrap(), name()).await.err().unwrap();
            assert_eq!(ErrorClass::from_io(&e), ErrorClass::TlsCert, "{e}");
            // The right CA but a name the certificate does not carry.
            let tcp = TcpStream::connect(addr).await.unwrap();
            let other = ServerName::try_from("example.com").unwrap();
            let e = TlsStream::connect(tcp, client_config(false, Some(&ca.0), 64).unwrap(), other).await.err().unwrap();
            assert_eq!(ErrorClass::from_io(&e), ErrorClass::TlsCert, "{e}");
            assert!(e.to_string().contains("example.com"), "{e}");
            // --insecure: accepted; the IP address is in the certificate too.
            let tcp = TcpStream::connect(addr).await.unwrap();
            let ip = ServerName::try_from("127.0.0.1").unwrap();
            assert!(TlsStream::connect(tcp, client_config(true, None, 64).unwrap(), ip.clone()).await.is_ok());
            let tcp = TcpStream::connect(addr).await.unwrap();
            assert!(TlsStream::connect(tcp, client_config(false, Some(&ca.0), 64).unwrap(), ip).await.is_ok());
        });
    }

    #[test]
    fn a_plain_server_is_a_tls_error_and_a_close_without_close_notify_is_the_end() {
        let client = client_config(true, None, 64).unwrap();
        let first = Arc::clone(&client);
        run(|| async move {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            monoio::spawn(async move {
                // Answers the ClientHello with plain HTTP, as a server without TLS would.
                let (mut tcp, _) = listener.accept().await.unwrap();
                let (_, _) = tcp.read(Vec::with_capacity(4096)).await;
                let (_, _) = tcp.write_all(&b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"[..]).await;
            });
            let tcp = TcpStream::connect(addr).await.unwrap();
            let e = TlsStream::connect(tcp, first, name()).await.err().unwrap();
            assert_eq!(ErrorClass::from_io(&e), ErrorClass::Tls, "{e}");
        });
        // A server that closes the TCP connection after its answer, without close_notify: the
        // reader sees the end of the stream (0), as on plain TCP.
        let cert = SelfSigned::generate().unwrap();
        let server = cert.server_config().unwrap();
        run(|| async move {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            monoio::spawn(async move {
                let (tcp, _) = listener.accept().await.unwrap();
                let mut tls = TlsStream::accept(tcp, server).await.unwrap();
                let (res, _) = tls.write_all(&b"bye"[..]).await;
                res.unwrap();
                drop(tls); // no close_notify
            });
            let tcp = TcpStream::connect(addr).await.unwrap();
            let (mut tls, _) = TlsStream::connect(tcp, client, name()).await.unwrap();
            let (res, got) = tls.read_exact(vec![0u8; 3]).await;
            res.unwrap();
            assert_eq!(&got, b"bye");
            let (res, _) = tls.read(Vec::with_capacity(16)).await;
            assert_eq!(res.unwrap(), 0);
        });
    }
}
