//! Certificate verifiers (the webpki chain check with one pinned exception, and `--insecure`)
//! and the classification of TLS failures into error classes.

use std::io;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::stats::{Classified, ErrorClass};

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

/// webpki's refusal of a certificate marked as a CA in the server's own place.
fn is_ca_as_end_entity(e: &rustls::OtherError) -> bool {
    matches!(e.0.downcast_ref::<webpki::Error>(), Some(webpki::Error::CaUsedAsEndEntity))
}

/// The standard chain and name check, plus one case curl and openssl accept and webpki refuses:
/// a self-signed certificate marked as a CA (what `openssl req -x509` makes) served as the
/// server's own certificate, when `--cacert` holds exactly that certificate.
#[derive(Debug)]
pub(super) struct Verifier {
    pub(super) webpki: Arc<rustls::client::WebPkiServerVerifier>,
    /// The certificates of `--cacert`.
    pub(super) pinned: Vec<CertificateDer<'static>>,
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
pub(super) struct NoVerify(pub(super) Arc<rustls::crypto::CryptoProvider>);

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
