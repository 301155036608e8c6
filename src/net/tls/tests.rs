//! TLS end to end over loopback: echo with resumption, certificate failures, plain peers.

use std::sync::Arc;

use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use rustls::pki_types::ServerName;
use rustls::ServerConfig;

use super::*;
use crate::stats::ErrorClass;
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
