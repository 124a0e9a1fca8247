//! Several `todo-server` replicas on the suite's database behind HAProxy,
//! as a load balancer in production would run them.
//!
//! HAProxy comes from Debian's packages (`apt-get install haproxy`); when it
//! is missing and the tests run as root, [`haproxy_binary`] installs it.
//! Each [`Replicas`] writes its configuration to a temporary directory,
//! listens on a free port and balances round-robin with health checks
//! every 100 ms, so a killed replica leaves the rotation at once; requests
//! whose connection a dead replica refused are re-sent to another
//! (`option redispatch`): nothing reached the dead one, so that is safe.

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use uuid::Uuid;

use crate::api::Api;
use crate::app::{delete_registered_users, TestApp};

/// How long HAProxy may take to accept connections and see every replica up.
const READY_LIMIT: Duration = Duration::from_secs(20);

/// The `haproxy` executable, installed from Debian's packages if missing.
///
/// # Panics
/// When it is missing and cannot be installed.
pub fn haproxy_binary() -> PathBuf {
    // One install at a time: parallel tests would otherwise race for dpkg's lock.
    static FOUND: OnceLock<PathBuf> = OnceLock::new();
    FOUND.get_or_init(find_or_install_haproxy).clone()
}

fn find_or_install_haproxy() -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin"] {
        let path = PathBuf::from(dir).join("haproxy");
        if path.exists() {
            return path;
        }
    }
    let status = std::process::Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends", "haproxy"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .status();
    assert!(
        matches!(status, Ok(s) if s.success()),
        "haproxy is not installed and `apt-get install -y haproxy` failed ({status:?}); install Debian's haproxy package"
    );
    PathBuf::from("/usr/sbin/haproxy")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `n` replicas sharing one JWT secret and database, behind HAProxy.
pub struct Replicas {
    /// The replicas themselves, for killing one or reaching one directly.
    pub apps: Vec<TestApp>,
    /// Through the load balancer.
    pub api: Api,
    haproxy: Child,
    dir: TempDir,
}

impl Replicas {
    /// Starts `n` replicas with `env` on top of the test defaults (plus
    /// `APP__SERVER__TRUST_FORWARDED_FOR=true`: HAProxy names the client),
    /// then HAProxy in front of them, and waits until it balances.
    pub async fn start(n: usize, env: &[(&str, &str)]) -> Replicas {
        let secret = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
        let mut apps = Vec::with_capacity(n);
        for _ in 0..n {
            let mut builder = TestApp::builder()
                .env("JWT_SECRET", secret.as_str())
                .env("APP__SERVER__TRUST_FORWARDED_FOR", "true");
            for (name, value) in env {
                builder = builder.env(name, *value);
            }
            apps.push(builder.spawn().await);
        }
        let port = free_port();
        let dir = TempDir::new();
        let config = dir.0.join("haproxy.cfg");
        let servers: String = apps
            .iter()
            .enumerate()
            .map(|(i, app)| {
                let addr = app.address().trim_start_matches("http://");
                format!("    server r{i} {addr} check inter 100ms fall 1 rise 1\n")
            })
            .collect();
        let text = format!(
            "global\n    maxconn 1000\n\
             defaults\n    mode http\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n    \
             option forwardfor\n    option redispatch\n    retries 3\n\
             frontend in\n    bind 127.0.0.1:{port}\n    default_backend replicas\n\
             backend replicas\n    balance roundrobin\n    option httpchk GET /healthz\n{servers}"
        );
        std::fs::File::create(&config)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .expect("write haproxy.cfg");
        let haproxy = Command::new(haproxy_binary())
            .arg("-db")
            .arg("-f")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.0.join("haproxy.log")).expect("haproxy.log"))
            .kill_on_drop(true)
            .spawn()
            .expect("haproxy starts");
        let replicas = Replicas {
            apps,
            api: Api::new(port),
            haproxy,
            dir,
        };
        replicas.wait_until_balancing().await;
        replicas
    }

    /// Until every replica has answered through the balancer.
    async fn wait_until_balancing(&self) {
        let started = Instant::now();
        let mut seen = 0;
        while seen < self.apps.len() * 2 {
            match self
                .api
                .request(reqwest::Method::GET, "/healthz")
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => seen += 1,
                _ => seen = 0,
            }
            assert!(
                started.elapsed() < READY_LIMIT,
                "haproxy did not balance over the replicas within {READY_LIMIT:?}; it printed:\n{}",
                std::fs::read_to_string(self.dir.0.join("haproxy.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Replicas {
    fn drop(&mut self) {
        let _ = self.haproxy.start_kill();
        delete_registered_users(&self.api);
    }
}

/// A directory under the system's temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!("todo-replicas-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
