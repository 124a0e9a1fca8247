//! The rustls client configuration every connection uses.
//!
//! The ring provider is named explicitly (no process-wide default needed, no
//! panic if another crate enables aws-lc-rs). P-256 is offered first because
//! stock PostgreSQL up to 17 prefers it: offering X25519 first costs a
//! HelloRetryRequest, one extra round trip on every connect.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::ring::{default_provider, kx_group};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use tokio_postgres_rustls::MakeRustlsConnect;

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("cannot read CA certificate file {path}: {reason}")]
    RootCert { path: String, reason: String },
    #[error("CA certificate file {path} holds no usable certificate")]
    NoCertificate { path: String },
    #[error("TLS configuration failed: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A connector trusting `root_cert` (a PEM file) or, without one, the
/// webpki roots (Neon's certificates chain to ISRG Root X1).
pub(crate) fn connector(
    root_cert: Option<&Path>,
    direct_tls: bool,
) -> Result<MakeRustlsConnect, TlsSetupError> {
    Ok(MakeRustlsConnect::new(client_config(
        root_cert, direct_tls,
    )?))
}

pub(crate) fn client_config(
    root_cert: Option<&Path>,
    direct_tls: bool,
) -> Result<ClientConfig, TlsSetupError> {
    let mut roots = RootCertStore::empty();
    match root_cert {
        Some(path) => {
            let shown = path.display().to_string();
            let certs =
                CertificateDer::pem_file_iter(path).map_err(|e| TlsSetupError::RootCert {
                    path: shown.clone(),
                    reason: e.to_string(),
                })?;
            for cert in certs {
                let cert = cert.map_err(|e| TlsSetupError::RootCert {
                    path: shown.clone(),
                    reason: e.to_string(),
                })?;
                roots.add(cert)?;
            }
            if roots.is_empty() {
                return Err(TlsSetupError::NoCertificate { path: shown });
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let mut provider = default_provider();
    provider.kx_groups = vec![kx_group::SECP256R1, kx_group::X25519, kx_group::SECP384R1];
    let mut config = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    if direct_tls {
        // Direct TLS negotiation (PostgreSQL 17+, Neon's proxy) requires ALPN.
        config.alpn_protocols = vec![b"postgresql".to_vec()];
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webpki_roots_are_the_default_trust_store() {
        let config = client_config(None, false).unwrap();
        assert!(config.alpn_protocols.is_empty());
        let direct = client_config(None, true).unwrap();
        assert_eq!(direct.alpn_protocols, vec![b"postgresql".to_vec()]);
    }

    #[test]
    fn missing_ca_file_is_a_clear_error() {
        let err = client_config(Some(Path::new("/nonexistent/ca.pem")), false).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }
}
