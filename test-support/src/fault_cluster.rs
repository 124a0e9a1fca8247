//! A PostgreSQL cluster of the fault tests' own, which they may stop and
//! start under load without touching the shared test cluster.
//!
//! It is `scripts/neon-local.sh --cluster faults` (TLS, SCRAM with channel
//! binding, like the others) on port `NEON_LOCAL_FAULTS_PORT` (56442). Only
//! one test at a time may stop it, across test binaries and parallel
//! `cargo test` runs, so [`FaultCluster::acquire`] takes a machine-wide lock
//! first: an abstract unix socket name, which the kernel releases when the
//! holder exits, however it exits.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::time::Duration;

use tokio_postgres::Client;

use crate::cluster::{admin_client, neon_local_async};

/// The cluster's name for `neon-local.sh --cluster`.
const NAME: &str = "faults";
const DEFAULT_PORT: u16 = 56442;
/// How long a test waits for another one to give the cluster back.
const LOCK_WAIT: Duration = Duration::from_secs(120);

/// The dedicated cluster, held exclusively by one test until dropped.
/// Dropping leaves it running (the next test reuses it).
pub struct FaultCluster {
    url: String,
    port: String,
    _lock: UnixListener,
}

impl FaultCluster {
    /// Waits until no other test holds the cluster, then starts it (creating
    /// it the first time) and returns it.
    ///
    /// # Panics
    /// When the lock is not free within two minutes or the script fails.
    pub async fn acquire() -> FaultCluster {
        let lock = take_lock().await;
        let port = std::env::var("NEON_LOCAL_FAULTS_PORT")
            .ok()
            .and_then(|p| p.parse::<u16>().ok())
            .unwrap_or(DEFAULT_PORT)
            .to_string();
        let mut cluster = FaultCluster {
            url: String::new(),
            port,
            _lock: lock,
        };
        cluster.url = cluster.script("url").await;
        cluster
    }

    /// The app role's URL (TLS, channel binding, the cluster's CA).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Fast shutdown of PostgreSQL (and its PgBouncer): every session ends
    /// with 57P01, new connections are refused.
    pub async fn stop(&self) {
        self.script("stop").await;
    }

    /// Starts PostgreSQL again; returns once it accepts connections.
    pub async fn start(&self) {
        self.script("start").await;
    }

    /// A superuser connection to the app's database over the cluster's unix
    /// socket, for checks on rows and `pg_stat_activity`.
    ///
    /// # Panics
    /// When the cluster does not accept it.
    pub async fn admin(&self) -> Client {
        admin_client(&self.script("admin-url").await, "app").await
    }

    /// `neon-local.sh --cluster faults --port <port> <command>`'s stdout.
    async fn script(&self, command: &str) -> String {
        neon_local_async(&["--cluster", NAME, "--port", &self.port, command]).await
    }
}

/// Binds the abstract socket `e2e-neon-local-faults`: exclusive while bound,
/// freed by the kernel when this process ends.
async fn take_lock() -> UnixListener {
    let name = format!("e2e-neon-local-{NAME}");
    let address = SocketAddr::from_abstract_name(name.as_bytes()).expect("a short abstract name");
    let deadline = tokio::time::Instant::now() + LOCK_WAIT;
    loop {
        match UnixListener::bind_addr(&address) {
            Ok(listener) => return listener,
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "another test held the `{NAME}` cluster for more than {LOCK_WAIT:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("cannot take the `{NAME}` cluster lock: {e}"),
        }
    }
}
