//! A direct tokio-postgres client over TLS (rustls with ring), for checks on
//! rows: it trusts the CA that the URL's `sslrootcert` names (else the
//! webpki roots), as the service does.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::ring::default_provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use tokio_postgres::Client;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::db_url::{param, with_param, without_param};

/// Connects to `url`.
///
/// # Panics
/// When the connection fails (the URL, which holds a password, is not
/// printed).
pub async fn connect(url: &str) -> Client {
    let (config, root_cert) = split(url);
    let tls = connector(root_cert.as_deref());
    let (client, connection) = tokio_postgres::connect(&config, tls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test database: {e:?}"));
    tokio::spawn(async move {
        // Ends when the client is dropped; an error then is of no interest.
        let _ = connection.await;
    });
    client
}

/// What tokio-postgres accepts (the URL without `sslrootcert`, and
/// `sslmode=verify-*` as `require`: rustls always verifies the chain and
/// the host name), and the CA file.
fn split(url: &str) -> (String, Option<PathBuf>) {
    let root_cert = param(url, "sslrootcert").map(PathBuf::from);
    let mut config = without_param(url, "sslrootcert");
    if param(&config, "sslmode").is_some_and(|mode| mode.starts_with("verify-")) {
        config = with_param(&config, "sslmode", "require");
    }
    (config, root_cert)
}

fn connector(root_cert: Option<&Path>) -> MakeRustlsConnect {
    let mut roots = RootCertStore::empty();
    match root_cert {
        Some(path) => {
            for cert in CertificateDer::pem_file_iter(path)
                .unwrap_or_else(|e| panic!("cannot read CA file {}: {e}", path.display()))
            {
                let cert = cert.unwrap_or_else(|e| panic!("bad CA file {}: {e}", path.display()));
                roots.add(cert).expect("the CA certificate is usable");
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let config = ClientConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    MakeRustlsConnect::new(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslrootcert_is_taken_out_and_decoded() {
        let (config, root_cert) = split(
            "postgresql://app:pw@localhost:5432/app?sslmode=require&sslrootcert=%2Ftmp%2Fa%20b%2Fca.pem&channel_binding=require",
        );
        assert_eq!(
            config,
            "postgresql://app:pw@localhost:5432/app?sslmode=require&channel_binding=require"
        );
        assert_eq!(root_cert, Some(PathBuf::from("/tmp/a b/ca.pem")));
    }

    #[test]
    fn verify_full_becomes_require() {
        let (config, root_cert) = split("postgresql://h/db?sslmode=verify-full");
        assert_eq!(config, "postgresql://h/db?sslmode=require");
        assert_eq!(root_cert, None);
        assert_eq!(split("postgresql://h/db").0, "postgresql://h/db");
    }
}
