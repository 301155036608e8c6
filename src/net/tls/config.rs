//! The client and server configurations: ring provider, TLS 1.2 and 1.3, ALPN `http/1.1`,
//! resumption on both sides, `--insecure` and `--cacert`.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, ServerConfig};

use super::cert::read_certs;
use super::session::SessionStore;
use super::verify::{NoVerify, Verifier};

/// ALPN: stampede speaks HTTP/1.1 (WebSocket upgrades included) over TLS.
const ALPN_HTTP1: &[u8] = b"http/1.1";
/// Sessions the embedded server remembers for resumption.
const SERVER_SESSIONS: usize = 64 * 1024;

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
