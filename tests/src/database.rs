//! The database the suite runs against, and a direct client for assertions.
//!
//! `TEST_DATABASE_URL`, when set, names a real Neon branch (or any
//! PostgreSQL the project accepts); otherwise the local Neon-like test
//! cluster is started once per test binary with `scripts/neon-local.sh
//! --test url`. Either way the connection is TLS with the ring provider,
//! trusting the CA named by the URL's `sslrootcert` (or the webpki roots).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use percent_encoding::percent_decode_str;
use rustls::crypto::ring::default_provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Row};
use tokio_postgres_rustls::MakeRustlsConnect;
use uuid::Uuid;

use crate::paths::repo_root;

static DATABASE_URL: OnceLock<String> = OnceLock::new();

/// The database URL the servers under test and [`TestDb`] use.
///
/// # Panics
/// When the local cluster cannot be started (the script's stderr is shown).
pub fn database_url() -> &'static str {
    DATABASE_URL.get_or_init(|| {
        if let Some(url) = shared_database_url() {
            return url;
        }
        let script = repo_root().join("scripts").join("neon-local.sh");
        let output = std::process::Command::new(&script)
            .args(["--test", "url"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            output.status.success(),
            "{} --test url failed ({}):\n{}",
            script.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let url = String::from_utf8(output.stdout).expect("the URL is UTF-8");
        let url = url.trim().to_owned();
        assert!(!url.is_empty(), "neon-local.sh printed no URL");
        url
    })
}

/// `TEST_DATABASE_URL` when set: the suite then shares a database (a Neon
/// branch) with others, so every test deletes the users it made.
pub fn shared_database_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .map(|url| url.trim().to_owned())
        .filter(|url| !url.is_empty())
}

/// The password inside a database URL, percent-decoded (to assert it is
/// never printed).
pub fn url_password(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let password = parsed.password()?;
    Some(
        percent_decode_str(password)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

/// The same URL with another password.
pub fn url_with_password(url: &str, password: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("the database URL parses");
    parsed
        .set_password(Some(password))
        .expect("the database URL can carry a password");
    parsed.to_string()
}

/// The same URL with query parameter `name` set to `value` (replaced if
/// present, appended otherwise); the rest of the URL is kept byte for byte.
pub fn url_with_param(url: &str, name: &str, value: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut pairs: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some(name))
        .collect();
    let added = format!("{name}={value}");
    pairs.push(&added);
    format!("{base}?{}", pairs.join("&"))
}

/// A URL split into what tokio-postgres accepts and the CA file it does not.
#[derive(Debug)]
struct ConnectionTarget {
    /// The URL without `sslrootcert`, with `sslmode=verify-*` as `require`
    /// (rustls always verifies the chain and host name).
    config: String,
    root_cert: Option<PathBuf>,
}

fn split_url(url: &str) -> ConnectionTarget {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, query),
        None => (url, ""),
    };
    let mut root_cert = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslrootcert" => {
                root_cert = Some(PathBuf::from(
                    percent_decode_str(value).decode_utf8_lossy().into_owned(),
                ));
            }
            "sslmode" if value.starts_with("verify-") => kept.push("sslmode=require".to_owned()),
            _ => kept.push(pair.to_owned()),
        }
    }
    let config = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    ConnectionTarget { config, root_cert }
}

fn tls_connector(root_cert: Option<&PathBuf>) -> MakeRustlsConnect {
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

/// A `users` row.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub name: Option<String>,
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A `sessions` row.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A `tasks` row.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub completed: bool,
    pub priority: String,
    pub due_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
    pub idempotency_key: Option<String>,
}

const USER_COLUMNS: &str = "id, email, name, password_hash, created_at, updated_at";
const SESSION_COLUMNS: &str = "id, user_id, created_at, expires_at, revoked_at";
const TASK_COLUMNS: &str = "id, user_id, title, description, completed, priority, due_at, \
                            created_at, updated_at, version, idempotency_key";

fn user_row(row: &Row) -> UserRow {
    UserRow {
        id: row.get("id"),
        email: row.get("email"),
        name: row.get("name"),
        password_hash: row.get("password_hash"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

fn session_row(row: &Row) -> SessionRow {
    SessionRow {
        id: row.get("id"),
        user_id: row.get("user_id"),
        created_at: row.get("created_at"),
        expires_at: row.get("expires_at"),
        revoked_at: row.get("revoked_at"),
    }
}

fn task_row(row: &Row) -> TaskRow {
    TaskRow {
        id: row.get("id"),
        user_id: row.get("user_id"),
        title: row.get("title"),
        description: row.get("description"),
        completed: row.get("completed"),
        priority: row.get("priority"),
        due_at: row.get("due_at"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
        version: row.get("version"),
        idempotency_key: row.get("idempotency_key"),
    }
}

/// A direct connection to the suite's database, for assertions on rows.
/// Every statement is parameterised and unnamed (`query_typed`), so it also
/// works through a transaction-mode pooler.
pub struct TestDb {
    client: Client,
}

impl TestDb {
    /// Connects to [`database_url`].
    ///
    /// # Panics
    /// When the connection fails (the URL, which holds a password, is not
    /// printed).
    pub async fn connect() -> TestDb {
        let target = split_url(database_url());
        let tls = tls_connector(target.root_cert.as_ref());
        let (client, connection) = tokio_postgres::connect(&target.config, tls)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the test database: {e:?}"));
        tokio::spawn(async move {
            // Ends when the client is dropped; an error then is of no interest.
            let _ = connection.await;
        });
        TestDb { client }
    }

    /// The raw client, for one-off queries.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The user whose email matches case-insensitively.
    pub async fn user_by_email(&self, email: &str) -> Option<UserRow> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE lower(email) = lower($1)");
        let rows = self
            .client
            .query_typed(&sql, &[(&email, Type::TEXT)])
            .await
            .expect("users query");
        assert!(rows.len() <= 1, "more than one user row for {email}");
        rows.first().map(user_row)
    }

    /// How many user rows match `email` case-insensitively.
    pub async fn users_with_email(&self, email: &str) -> i64 {
        let row = self
            .client
            .query_typed(
                "SELECT count(*) FROM users WHERE lower(email) = lower($1)",
                &[(&email, Type::TEXT)],
            )
            .await
            .expect("users count")
            .remove(0);
        row.get(0)
    }

    /// The sessions of a user, oldest first.
    pub async fn sessions_of(&self, user_id: Uuid) -> Vec<SessionRow> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = $1 ORDER BY created_at, id"
        );
        self.client
            .query_typed(&sql, &[(&user_id, Type::UUID)])
            .await
            .expect("sessions query")
            .iter()
            .map(session_row)
            .collect()
    }

    /// One session by id.
    pub async fn session(&self, id: Uuid) -> Option<SessionRow> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1");
        self.client
            .query_typed(&sql, &[(&id, Type::UUID)])
            .await
            .expect("session query")
            .first()
            .map(session_row)
    }

    /// One task by id, whoever owns it.
    pub async fn task(&self, id: Uuid) -> Option<TaskRow> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1");
        self.client
            .query_typed(&sql, &[(&id, Type::UUID)])
            .await
            .expect("task query")
            .first()
            .map(task_row)
    }

    /// The tasks of a user, oldest first.
    pub async fn tasks_of(&self, user_id: Uuid) -> Vec<TaskRow> {
        let sql =
            format!("SELECT {TASK_COLUMNS} FROM tasks WHERE user_id = $1 ORDER BY created_at, id");
        self.client
            .query_typed(&sql, &[(&user_id, Type::UUID)])
            .await
            .expect("tasks query")
            .iter()
            .map(task_row)
            .collect()
    }

    /// Deletes the users with these emails (case-insensitively); their
    /// sessions and tasks go with them (`ON DELETE CASCADE`).
    pub async fn delete_users_by_email(&self, emails: &[String]) -> u64 {
        let lowered: Vec<String> = emails.iter().map(|e| e.to_lowercase()).collect();
        self.client
            .execute_typed(
                "DELETE FROM users WHERE lower(email) = ANY($1)",
                &[(&lowered, Type::TEXT_ARRAY)],
            )
            .await
            .expect("delete users")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslrootcert_is_taken_out_and_decoded() {
        let target = split_url(
            "postgresql://app:pw@localhost:5432/app?sslmode=require&sslrootcert=%2Ftmp%2Fa%20b%2Fca.pem&channel_binding=require",
        );
        assert_eq!(
            target.config,
            "postgresql://app:pw@localhost:5432/app?sslmode=require&channel_binding=require"
        );
        assert_eq!(target.root_cert, Some(PathBuf::from("/tmp/a b/ca.pem")));
    }

    #[test]
    fn verify_full_becomes_require() {
        let target = split_url("postgresql://h/db?sslmode=verify-full");
        assert_eq!(target.config, "postgresql://h/db?sslmode=require");
        assert_eq!(target.root_cert, None);
    }

    #[test]
    fn a_url_without_query_is_kept() {
        assert_eq!(split_url("postgresql://h/db").config, "postgresql://h/db");
    }

    #[test]
    fn url_variants_change_only_what_they_name() {
        let url = "postgresql://app:s%40cret@localhost:1/app?sslmode=require&sslrootcert=/x/ca.pem";
        assert_eq!(url_password(url).as_deref(), Some("s@cret"));
        let other = url_with_password(url, "wrong");
        assert_eq!(url_password(&other).as_deref(), Some("wrong"));
        assert!(other.ends_with("?sslmode=require&sslrootcert=/x/ca.pem"));
        assert_eq!(
            url_with_param(url, "sslmode", "disable"),
            "postgresql://app:s%40cret@localhost:1/app?sslrootcert=/x/ca.pem&sslmode=disable"
        );
    }
}
