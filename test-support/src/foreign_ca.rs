//! A freshly made CA (ECDSA P-256, SHA-256) that signed nothing the
//! databases use: a database certificate checked against it must be
//! refused with "unknown issuer".

use std::path::{Path, PathBuf};
use std::process::Command;

use uuid::Uuid;

/// The CA's certificate in a folder of its own, removed when dropped.
pub struct ForeignCa {
    dir: PathBuf,
    cert: PathBuf,
}

impl ForeignCa {
    /// Makes one with `openssl`.
    ///
    /// # Panics
    /// When `openssl` is missing or fails.
    pub fn generate() -> Self {
        let dir = std::env::temp_dir().join(format!("foreign-ca-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("a temporary folder");
        let key = dir.join("ca.key");
        let cert = dir.join("ca.pem");
        let output = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec"])
            .args(["-pkeyopt", "ec_paramgen_curve:prime256v1"])
            .args(["-sha256", "-nodes", "-days", "1"])
            .args(["-subj", "/CN=Not The Database CA"])
            .args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=keyCertSign,cRLSign"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl can be run");
        assert!(
            output.status.success(),
            "openssl failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Self { dir, cert }
    }

    /// The CA certificate (PEM).
    pub fn cert(&self) -> &Path {
        &self.cert
    }
}

impl Drop for ForeignCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
