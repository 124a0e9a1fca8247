//! The database the suite runs against, and a direct client for assertions.
//!
//! `TEST_DATABASE_URL`, when set, names a real Neon branch (or any
//! PostgreSQL the project accepts); otherwise the local Neon-like test
//! cluster is started once per test binary with `scripts/neon-local.sh
//! --test url`. Either way the connection is TLS with the ring provider,
//! trusting the CA named by the URL's `sslrootcert` (or the webpki roots).

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Row};
use uuid::Uuid;

pub use test_support::cluster::shared_database_url;
pub use test_support::db_url::{
    password as url_password, with_param as url_with_param, with_password as url_with_password,
};

/// The database URL the servers under test and [`TestDb`] use:
/// `TEST_DATABASE_URL`, else the local test cluster (started if needed).
///
/// # Panics
/// When the local cluster cannot be started (the script's stderr is shown).
pub fn database_url() -> &'static str {
    test_support::cluster::database_url()
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
const OLDEST_FIRST: &str = "ORDER BY created_at, id";
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
        TestDb {
            client: test_support::tls_client::connect(database_url()).await,
        }
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
        let sql =
            format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = $1 {OLDEST_FIRST}");
        self.rows_by_uuid(&sql, user_id, session_row).await
    }

    /// One session by id.
    pub async fn session(&self, id: Uuid) -> Option<SessionRow> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1");
        self.rows_by_uuid(&sql, id, session_row).await.pop()
    }

    /// One task by id, whoever owns it.
    pub async fn task(&self, id: Uuid) -> Option<TaskRow> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1");
        self.rows_by_uuid(&sql, id, task_row).await.pop()
    }

    /// The tasks of a user, oldest first.
    pub async fn tasks_of(&self, user_id: Uuid) -> Vec<TaskRow> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE user_id = $1 {OLDEST_FIRST}");
        self.rows_by_uuid(&sql, user_id, task_row).await
    }

    /// Each task of a user as (id, idempotency key), oldest first: what a
    /// write load's report is checked against.
    pub async fn task_keys_of(&self, user_id: Uuid) -> Vec<(Uuid, Option<String>)> {
        let tasks = self.tasks_of(user_id).await;
        tasks
            .into_iter()
            .map(|t| (t.id, t.idempotency_key))
            .collect()
    }

    /// The ids of a user's tasks, oldest first.
    pub async fn task_ids_of(&self, user_id: Uuid) -> Vec<Uuid> {
        let tasks = self.tasks_of(user_id).await;
        tasks.into_iter().map(|t| t.id).collect()
    }

    /// Runs `sql` with one UUID parameter and maps each row.
    async fn rows_by_uuid<T>(&self, sql: &str, id: Uuid, map: fn(&Row) -> T) -> Vec<T> {
        let rows = self.client.query_typed(sql, &[(&id, Type::UUID)]).await;
        let rows = rows.unwrap_or_else(|e| panic!("`{sql}` failed: {e}"));
        rows.iter().map(map).collect()
    }

    /// Deletes the users with these emails (case-insensitively); their
    /// sessions and tasks go with them (`ON DELETE CASCADE`).
    /// Addresses with a NUL byte are skipped: PostgreSQL cannot hold them,
    /// so no row has them, and one would fail the whole statement.
    pub async fn delete_users_by_email(&self, emails: &[String]) -> u64 {
        let lowered: Vec<String> = emails
            .iter()
            .filter(|e| !e.contains('\0'))
            .map(|e| e.to_lowercase())
            .collect();
        self.client
            .execute_typed(
                "DELETE FROM users WHERE lower(email) = ANY($1)",
                &[(&lowered, Type::TEXT_ARRAY)],
            )
            .await
            .expect("delete users")
    }
}
