//! A throwaway CA and a server certificate it signed for `localhost` only
//! (not 127.0.0.1, so host-name checks can be tested), made with `openssl` like [`crate::foreign_ca`], for test
//! servers that speak TLS (the SMTP sink). Clients that trust
//! [`ServerCert::ca_file`] accept the server; any other trust store
//! refuses it with "unknown issuer".

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use rustls::crypto::ring::default_provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use uuid::Uuid;

/// The CA certificate, the server's key and certificate, in a folder of
/// their own removed when dropped.
pub struct ServerCert {
    dir: PathBuf,
}

fn openssl(args: &[&str], dir: &Path) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl can be run");
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

impl ServerCert {
    /// Makes a CA (ECDSA P-256) and a `localhost` server certificate.
    ///
    /// # Panics
    /// When `openssl` is missing or fails.
    pub fn generate() -> Self {
        let dir = std::env::temp_dir().join(format!("server-cert-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("a temporary folder");
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
        openssl(
            &[
                &["req", "-x509"][..],
                &ec,
                &["-sha256", "-nodes", "-days", "1"],
                &["-subj", "/CN=Mail Test CA"],
                &["-addext", "basicConstraints=critical,CA:TRUE"],
                &["-addext", "keyUsage=keyCertSign,cRLSign"],
                &["-keyout", "ca.key", "-out", "ca.pem"],
            ]
            .concat(),
            &dir,
        );
        openssl(
            &[
                &["req", "-new"][..],
                &ec,
                &["-nodes", "-subj", "/CN=localhost"],
                &["-keyout", "server.key", "-out", "server.csr"],
            ]
            .concat(),
            &dir,
        );
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=DNS:localhost\n\
             basicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth\n",
        )
        .expect("the extensions file is written");
        openssl(
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-sha256",
                "-days",
                "1",
                "-extfile",
                "server.ext",
                "-out",
                "server.pem",
            ],
            &dir,
        );
        Self { dir }
    }

    /// The CA certificate (PEM) to trust, e.g. as `APP__MAIL__SMTP_CA_FILE`.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A rustls server configuration presenting the `localhost` certificate.
    ///
    /// # Panics
    /// When the generated files cannot be read.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(self.dir.join("server.pem"))
                .expect("the server certificate is readable")
                .collect::<Result<_, _>>()
                .expect("the server certificate is PEM");
        let key = PrivateKeyDer::from_pem_file(self.dir.join("server.key"))
            .expect("the server key is PEM");
        let config = ServerConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports the default versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("the key matches the certificate");
        Arc::new(config)
    }
}

impl Drop for ServerCert {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
