//! The local Neon-like clusters of `scripts/neon-local.sh` (TLS only, SCRAM
//! with channel binding, PgBouncer in transaction mode), by URL.
//!
//! The shared test cluster is started on first use (`--test url` starts it
//! when needed) and its URLs are asked for once per test process.

use std::path::PathBuf;
use std::process::Output;
use std::sync::OnceLock;

use tokio_postgres::{Client, NoTls};

/// The root of the repository (the workspace folder).
pub fn repo_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent()
        .expect("test-support lives one folder below the repository root")
        .to_path_buf()
}

/// `scripts/neon-local.sh`.
pub fn neon_local_script() -> PathBuf {
    repo_root().join("scripts").join("neon-local.sh")
}

/// Runs `scripts/neon-local.sh <args>` and returns its stdout, trimmed.
///
/// # Panics
/// When the script cannot be run or fails (with its stderr).
pub fn neon_local(args: &[&str]) -> String {
    let script = neon_local_script();
    let output = std::process::Command::new(&script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    script_stdout(args, &output)
}

/// [`neon_local`] without blocking the runtime (for start and stop under
/// load).
///
/// # Panics
/// As [`neon_local`].
pub async fn neon_local_async(args: &[&str]) -> String {
    let script = neon_local_script();
    let output = tokio::process::Command::new(&script)
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    script_stdout(args, &output)
}

fn script_stdout(args: &[&str], output: &Output) -> String {
    assert!(
        output.status.success(),
        "scripts/neon-local.sh {} failed ({}):\n{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A URL that `scripts/neon-local.sh <args>` prints.
///
/// # Panics
/// As [`neon_local`], or when it printed nothing.
fn printed_url(args: &[&str]) -> String {
    let url = neon_local(args);
    assert!(
        !url.is_empty(),
        "scripts/neon-local.sh {} printed no URL",
        args.join(" ")
    );
    url
}

/// The direct URL (TLS, `channel_binding=require`, the cluster's CA in
/// `sslrootcert`) of the local test cluster.
pub fn test_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| printed_url(&["--test", "url"]))
}

/// The local test cluster's database through PgBouncer in transaction mode.
pub fn test_pooler_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| printed_url(&["--test", "pooler-url"]))
}

/// A superuser of the local test cluster over its unix socket (libpq
/// keyword/value form, no database named).
pub fn test_admin_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| printed_url(&["--test", "admin-url"]))
}

/// `TEST_DATABASE_URL` when set and not blank: a database (a Neon branch,
/// say) that the end-to-end suite then shares with others.
pub fn shared_database_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .map(|url| url.trim().to_owned())
        .filter(|url| !url.is_empty())
}

/// [`shared_database_url`] if set, else the local test cluster's
/// [`test_url`].
pub fn database_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| shared_database_url().unwrap_or_else(|| test_url().to_owned()))
}

/// A superuser connection to `database` from an admin URL (as
/// `neon-local.sh admin-url` prints it), without TLS over the unix socket.
///
/// # Panics
/// When the cluster refuses it.
pub async fn admin_client(admin_url: &str, database: &str) -> Client {
    let mut config: tokio_postgres::Config = admin_url
        .parse()
        .unwrap_or_else(|e| panic!("neon-local.sh admin-url printed `{admin_url}`: {e}"));
    config.dbname(database);
    let (client, connection) = config
        .connect(NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot open an admin connection to `{database}`: {e:?}"));
    tokio::spawn(async move {
        // Ends when the client is dropped; an error then is of no interest.
        let _ = connection.await;
    });
    client
}
