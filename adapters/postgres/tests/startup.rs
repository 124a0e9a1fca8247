//! Start-up behaviour against the local Neon-like PostgreSQL: each class of
//! connection error gives its own message and exit code, migrations are
//! applied once under concurrency and guarded by checksums, the schema
//! check lists every difference, and the pool survives the server killing
//! its connections.

mod support;

use std::time::Duration;

use adapter_postgres::{Database, MigrationReport, PostgresSettings, StartupError};
use application::ports::{Principal, RepoError};
use chrono::TimeDelta;
use domain::{TaskPatch, TaskQuery, Title};
use support::{
    admin, admin_in, create_database, direct_url, drop_database, now, repos, settings, signed_in,
    url_for_database, with_param, Repos,
};
use test_support::db_url;
use test_support::foreign_ca::ForeignCa;
use test_support::no_tls_server::PostgresWithoutTls;
use uuid::Uuid;

/// Every migration of this build, in order.
const MIGRATED: [&str; 4] = [
    "0001_init",
    "0002_replays_and_search",
    "0003_login_attempts",
    "0004_accounts",
];

async fn connect_err(url: &str) -> StartupError {
    match Database::connect(settings(url)).await {
        Ok(_) => panic!("connecting to {url} should fail"),
        Err(err) => {
            eprintln!("start-up error (exit {}): {err}", err.exit_code());
            err
        }
    }
}

/// The test URL pointing at `host:port`.
fn at(host: &str, port: u16) -> String {
    db_url::with_host_port(direct_url(), host, port)
}

/// `err` matches `pattern`, its message holds `text`, it exits with `code`,
/// and neither its message nor its debug form shows the password.
macro_rules! assert_refusal {
    ($err:expr, $pattern:pat, $text:expr, $code:expr) => {{
        let err: &StartupError = &$err;
        assert!(matches!(err, $pattern), "{err:?}");
        assert!(err.to_string().contains($text), "{err}");
        assert_eq!(err.exit_code(), $code);
        assert_no_secret(err);
    }};
}

fn assert_no_secret(err: &StartupError) {
    let password = db_url::password(direct_url()).expect("the test URL has a password");
    assert!(!err.to_string().contains(&password), "{err}");
    assert!(!format!("{err:?}").contains(&password), "{err:?}");
}

#[tokio::test]
async fn the_test_cluster_is_reached_over_tls_with_channel_binding() {
    assert!(direct_url().contains("channel_binding=require"));
    let db = Database::connect(settings(direct_url())).await.unwrap();
    assert!(db.ping(Duration::from_secs(5)).await);
    let info = db.connection_info();
    assert_eq!(info.user, "app");
    assert_eq!(info.database, "app");
    assert!(!info.pooled);
    assert!(
        info.tls_version
            .as_deref()
            .is_some_and(|v| v.starts_with("TLSv1.")),
        "{info:?}"
    );
    assert!(info.tls_cipher.is_some(), "{info:?}");
    let status = db.pool_status();
    assert_eq!(status.max_size, 4);
    assert!(status.size >= 1);
    db.close();
    assert!(!db.ping(Duration::from_secs(5)).await);
}

#[tokio::test]
async fn missing_url_is_its_own_error() {
    let err = connect_err("").await;
    assert!(matches!(err, StartupError::MissingUrl), "{err:?}");
    assert!(err.to_string().contains("DATABASE_URL is not set"));
    assert_eq!(err.exit_code(), 10);
}

#[tokio::test]
async fn sqlite_and_other_schemes_are_refused() {
    for url in [
        "sqlite://todo.db",
        "sqlite::memory:",
        "mysql://u:p@localhost/db",
        "invalid://x",
    ] {
        let err = connect_err(url).await;
        assert!(
            matches!(err, StartupError::UnsupportedScheme { .. }),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .contains("only PostgreSQL (Neon) is supported"),
            "{err}"
        );
        assert_eq!(err.exit_code(), 11);
    }
}

#[tokio::test]
async fn disabled_tls_is_refused() {
    let url = direct_url().replace("sslmode=require", "sslmode=disable");
    let err = connect_err(&url).await;
    assert_refusal!(err, StartupError::TlsRequired { .. }, "TLS is required", 12);
}

#[tokio::test]
async fn unknown_parameter_is_named() {
    let err = connect_err(&with_param(direct_url(), "target_session_attrs=read-write")).await;
    assert!(err.to_string().contains("target_session_attrs"), "{err}");
    assert_eq!(err.exit_code(), 13);
    assert_no_secret(&err);
}

#[tokio::test]
async fn wrong_password_is_an_authentication_failure() {
    let err = connect_err(&db_url::with_password(direct_url(), "definitely-wrong")).await;
    assert_refusal!(
        err,
        StartupError::AuthFailed { .. },
        "password authentication failed",
        24
    );
    assert!(!err.to_string().contains("definitely-wrong"));
}

#[tokio::test]
async fn missing_database_is_named() {
    let url = url_for_database(direct_url(), "no_such_db");
    let err = connect_err(&url).await;
    assert_refusal!(
        err,
        StartupError::DatabaseMissing { .. },
        "`no_such_db` does not exist",
        25
    );
}

#[tokio::test]
async fn closed_port_is_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let err = connect_err(&at("localhost", port)).await;
    assert_refusal!(err, StartupError::Unreachable { .. }, "refused", 21);
}

#[tokio::test]
async fn unknown_host_is_a_dns_error() {
    let err = connect_err(&at("no-such-host.invalid", 5432)).await;
    assert_refusal!(err, StartupError::Dns { .. }, "no-such-host.invalid", 20);
}

#[tokio::test]
async fn server_without_tls_is_recognised() {
    let fake = PostgresWithoutTls::start().await;
    let err = connect_err(&at("localhost", fake.port)).await;
    assert_refusal!(
        err,
        StartupError::ServerWithoutTls { .. },
        "does not support TLS",
        23
    );
}

#[tokio::test]
async fn certificate_from_another_ca_is_refused() {
    let ca = ForeignCa::generate();
    let url = db_url::with_param(
        direct_url(),
        "sslrootcert",
        &ca.cert().display().to_string(),
    );
    let err = connect_err(&url).await;
    assert_refusal!(err, StartupError::TlsHandshake { .. }, "UnknownIssuer", 22);
}

/// A name other than `localhost` that resolves to 127.0.0.1 (the machine's
/// own host name usually does), or `None`.
async fn other_name_for_loopback() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()?
        .trim()
        .to_owned();
    if name.is_empty() || name == "localhost" {
        return None;
    }
    let loopback = tokio::net::lookup_host((name.as_str(), 56432))
        .await
        .ok()?
        .any(|a| a.ip().is_loopback() && a.is_ipv4());
    loopback.then_some(name)
}

#[tokio::test]
async fn host_name_not_in_the_certificate_is_refused() {
    // The server certificate names localhost, 127.0.0.1 and ::1 only.
    let Some(name) = other_name_for_loopback().await else {
        eprintln!("skipped: no other host name resolves to 127.0.0.1 here");
        return;
    };
    let port = db_url::port(direct_url()).expect("the test URL names a port");
    let err = connect_err(&at(&name, port)).await;
    assert_refusal!(
        err,
        StartupError::TlsHandshake { .. },
        "not valid for name",
        22
    );
}

/// `n` starts on `url` migrating at once: their handles and reports.
///
/// # Panics
/// When a migrator fails.
async fn migrate_concurrently(url: &str, n: usize) -> (Vec<Database>, Vec<MigrationReport>) {
    let mut dbs = Vec::new();
    for _ in 0..n {
        dbs.push(Database::connect(settings(url)).await.expect("connect"));
    }
    let handles: Vec<_> = dbs
        .iter()
        .cloned()
        .map(|db| tokio::spawn(async move { db.migrate().await }))
        .collect();
    let mut reports = Vec::new();
    for handle in handles {
        reports.push(handle.await.unwrap().expect("every migrator succeeds"));
    }
    (dbs, reports)
}

#[tokio::test]
async fn four_concurrent_migrators_apply_each_migration_once() {
    let name = create_database().await;
    let (dbs, reports) = migrate_concurrently(&url_for_database(direct_url(), &name), 4).await;
    let applied: Vec<_> = reports.iter().filter(|r| !r.applied.is_empty()).collect();
    assert_eq!(applied.len(), 1, "{reports:?}");
    assert_eq!(applied[0].applied, MIGRATED);
    assert!(reports
        .iter()
        .filter(|r| r.applied.is_empty())
        .all(|r| r.already_applied == MIGRATED));
    dbs[0].check_schema().await.unwrap();
    let rows = admin_in(&name, "SELECT count(*) FROM schema_migrations").await;
    assert!(
        matches!(&rows[1], tokio_postgres::SimpleQueryMessage::Row(r) if r.get(0) == Some(MIGRATED.len().to_string().as_str()))
    );
    for db in dbs {
        db.close();
    }
    drop_database(&name).await;
}

#[tokio::test]
async fn concurrent_migrators_through_the_transaction_pooler_apply_each_migration_once() {
    // A URL that is not Neon's pooler host runs the migration transaction
    // on its own pool, here PgBouncer in transaction mode: the pipelined
    // transaction and its transaction-scoped lock must hold there too.
    let name = create_database().await;
    let url = url_for_database(support::pooler_url(), &name);
    let (dbs, reports) = migrate_concurrently(&url, 3).await;
    let mut applied = 0;
    for report in reports {
        applied += report.applied.len();
        assert!(
            report.applied == MIGRATED || report.already_applied == MIGRATED,
            "{report:?}"
        );
    }
    assert_eq!(applied, MIGRATED.len());
    for db in &dbs {
        db.check_schema().await.unwrap();
    }
    for db in dbs {
        db.close();
    }
    drop_database(&name).await;
}

/// A connection to database `name` of the test cluster.
async fn connect_to(name: &str) -> Database {
    let url = url_for_database(direct_url(), name);
    Database::connect(settings(&url)).await.expect("connect")
}

/// A throwaway database, migrated by a start that is already gone: its
/// name and URL.
async fn migrated_database() -> (String, String) {
    let name = create_database().await;
    let first = connect_to(&name).await;
    first.migrate().await.expect("the first start migrates");
    first.close();
    let url = url_for_database(direct_url(), &name);
    (name, url)
}

/// Edits the recorded checksum of migration 1, as a changed file would.
async fn edit_first_checksum(database: &str) {
    let sql = "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1";
    admin_in(database, sql).await;
}

/// `err` is the start-up error for a changed migration 1, exit code 31.
fn assert_first_checksum_changed(err: &StartupError) {
    assert!(
        matches!(err, StartupError::MigrationChecksum { version: 1, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("changed after it was applied"),
        "{err}"
    );
    assert_eq!(err.exit_code(), 31);
}

#[tokio::test]
async fn changed_applied_migration_stops_the_start() {
    let name = create_database().await;
    let db = connect_to(&name).await;
    db.migrate().await.unwrap();
    edit_first_checksum(&name).await;
    let err = db.migrate().await.unwrap_err();
    assert_first_checksum_changed(&err);
    db.close();
    drop_database(&name).await;
}

/// The key every replica's migration transaction locks ("todo_mig").
const MIGRATION_LOCK_KEY: i64 = 0x746f_646f_5f6d_6967;

/// A superuser session in `database` holding the migration lock until dropped.
async fn hold_migration_lock(database: &str) -> tokio_postgres::Client {
    let holder = support::admin_client(database).await;
    holder
        .batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
        .await
        .unwrap();
    holder
}

/// Connects and migrates; panics instead of hanging when the start waits
/// for the migration lock (a bound against a hang, not a timing check).
async fn start_without_the_lock(url: &str) -> (Database, Result<(), StartupError>) {
    let db = Database::connect(settings(url)).await.unwrap();
    let migrated = tokio::time::timeout(Duration::from_secs(30), db.migrate())
        .await
        .expect("the start waited for the migration lock although nothing was pending");
    let result = match migrated {
        Ok(report) => {
            assert!(report.applied.is_empty(), "{report:?}");
            assert_eq!(report.already_applied, MIGRATED);
            Ok(())
        }
        Err(err) => Err(err),
    };
    (db, result)
}

#[tokio::test]
async fn a_migrated_database_starts_without_taking_the_migration_lock() {
    let name = create_database().await;
    let url = url_for_database(direct_url(), &name);
    let first = Database::connect(settings(&url)).await.unwrap();
    assert_eq!(first.migrate().await.unwrap().applied, MIGRATED);
    first.close();

    // Another replica is stuck holding the lock: a start with nothing to
    // apply still gets through, and its schema check passes.
    let _holder = hold_migration_lock(&name).await;
    let (db, migrated) = start_without_the_lock(&url).await;
    migrated.unwrap();
    db.check_schema().await.unwrap();
    // Asked again (no start-up reading left), still nothing to wait for.
    db.migrate().await.unwrap();
    db.check_schema().await.unwrap();
    db.close();
    drop_database(&name).await;
}

#[tokio::test]
async fn a_changed_checksum_stops_a_later_start_without_the_lock() {
    let (name, url) = migrated_database().await;
    edit_first_checksum(&name).await;
    let _holder = hold_migration_lock(&name).await;
    let (db, migrated) = start_without_the_lock(&url).await;
    let err = migrated.unwrap_err();
    assert_first_checksum_changed(&err);
    db.close();
    drop_database(&name).await;
}

#[tokio::test]
async fn a_later_start_lists_every_schema_difference() {
    let (name, url) = migrated_database().await;
    admin_in(
        &name,
        "DROP INDEX tasks_user_due_idx;
         ALTER TABLE tasks ALTER COLUMN title DROP NOT NULL;",
    )
    .await;
    let (db, migrated) = start_without_the_lock(&url).await;
    migrated.unwrap();
    let err = db.check_schema().await.unwrap_err();
    let StartupError::SchemaMismatch { differences } = &err else {
        panic!("{err:?}")
    };
    let text = err.to_string();
    assert!(
        text.contains("lacks the index on (user_id, due_at, id)"),
        "{text}"
    );
    assert!(
        text.contains("column `tasks.title` is nullable, expected NOT NULL"),
        "{text}"
    );
    assert_eq!(differences.len(), 2, "{text}");
    db.close();
    drop_database(&name).await;
}

#[tokio::test]
async fn a_start_through_the_pooler_on_a_migrated_database_applies_nothing() {
    support::direct_db().await.close();
    let (db, migrated) = start_without_the_lock(support::pooler_url()).await;
    migrated.unwrap();
    db.check_schema().await.unwrap();
    db.close();
}

#[tokio::test]
async fn schema_check_lists_every_difference() {
    let name = create_database().await;
    let db = connect_to(&name).await;
    let err = db.check_schema().await.unwrap_err();
    assert!(
        err.to_string().contains("table `tasks` is missing"),
        "{err}"
    );

    db.migrate().await.unwrap();
    db.check_schema().await.unwrap();
    admin_in(
        &name,
        "ALTER TABLE tasks DROP COLUMN idempotency_fingerprint CASCADE;
         ALTER TABLE tasks ALTER COLUMN title DROP NOT NULL;
         ALTER TABLE users ALTER COLUMN name TYPE varchar(100);
         DROP INDEX tasks_user_due_idx;
         ALTER TABLE sessions DROP CONSTRAINT sessions_user_id_fkey;
         ALTER TABLE sessions ADD FOREIGN KEY (user_id) REFERENCES users (id);
         ALTER TABLE tasks ADD COLUMN surprise integer NOT NULL;",
    )
    .await;
    let err = db.check_schema().await.unwrap_err();
    let StartupError::SchemaMismatch { differences } = &err else {
        panic!("{err:?}")
    };
    let text = err.to_string();
    for expected in [
        "column `tasks.idempotency_fingerprint` is missing",
        "column `tasks.title` is nullable, expected NOT NULL",
        "column `users.name` has type character varying(100), expected text",
        "lacks the index on (user_id, due_at, id)",
        "`sessions` lacks foreign key (user_id) references users(id) ON DELETE CASCADE",
        "unexpected column `tasks.surprise`",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert_eq!(differences.len(), 6, "{text}");
    assert_eq!(err.exit_code(), 30);
    db.close();
    drop_database(&name).await;
}

/// Terminates every backend this test's pool opened (tagged by application_name).
async fn terminate_backends(tag: &str) -> usize {
    let rows = admin(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{tag}'"
    ))
    .await;
    rows.iter()
        .filter(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_)))
        .count()
}

/// Test settings whose connections carry a fresh `application_name`
/// starting with `prefix`, and that name, to find them on the server.
fn tagged_settings(prefix: &str) -> (String, PostgresSettings) {
    let tag = format!("{prefix}-{}", Uuid::now_v7().simple());
    let url = with_param(direct_url(), &format!("application_name={tag}"));
    (tag, settings(&url))
}

/// A pool with `settings` on a migrated database.
async fn connect_migrated(settings: PostgresSettings) -> Database {
    let db = Database::connect(settings).await.expect("connect");
    db.migrate().await.expect("migrate");
    db
}

/// A signed-in user's stored task titled `title`, with the user's principal.
async fn stored_task(repos: &Repos, title: &str) -> (Principal, domain::Task) {
    let (user, _, principal) = signed_in(repos).await;
    let task = domain::NewTask {
        title: Title::parse(title).unwrap(),
        description: None,
        completed: false,
        priority: domain::Priority::Medium,
        due_at: None,
    }
    .into_task(user.id, now());
    let created = repos.tasks.create(&principal, now(), &task, None).await;
    created.expect("the task is stored");
    (principal, task)
}

/// A superuser session, in a transaction, holding `task`'s row lock until
/// it rolls back.
async fn lock_row(task: &domain::Task) -> tokio_postgres::Client {
    let locker = support::admin_client("app").await;
    let lock = format!(
        "BEGIN; SELECT 1 FROM tasks WHERE id = '{}' FOR UPDATE",
        task.id
    );
    locker
        .batch_execute(&lock)
        .await
        .expect("the row lock is taken");
    locker
}

/// Polls (for at most ten seconds) until a backend tagged `tag` is waiting
/// on a lock (`waiting`) or no longer is; whether that happened.
async fn lock_wait_becomes(tag: &str, waiting: bool) -> bool {
    let sql = format!(
        "SELECT 1 FROM pg_stat_activity WHERE application_name = '{tag}' AND wait_event_type = 'Lock'"
    );
    for _ in 0..200 {
        let rows = admin(&sql).await;
        let now_waiting = rows
            .iter()
            .any(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_)));
        if now_waiting == waiting {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn reads_survive_the_server_terminating_every_pooled_connection() {
    let (tag, s) = tagged_settings("terminate");
    let db = connect_migrated(s).await;
    let repos = repos(&db);
    let (user, _, principal) = signed_in(&repos).await;
    for round in 0..3 {
        // Fill the pool: four reads at once hold four connections.
        let reads: Vec<_> = (0..4)
            .map(|_| {
                let tasks = repos.tasks.clone();
                tokio::spawn(
                    async move { tasks.list(&principal, now(), &TaskQuery::default()).await },
                )
            })
            .collect();
        for read in reads {
            read.await.unwrap().unwrap();
        }
        let killed = terminate_backends(&tag).await;
        assert!(killed >= 1, "round {round}: no backend to terminate");
        // Every read right after the kill succeeds.
        let reads: Vec<_> = (0..6)
            .map(|_| {
                let sessions = repos.sessions.clone();
                tokio::spawn(async move { sessions.active_user(&principal, now()).await })
            })
            .collect();
        for read in reads {
            assert_eq!(read.await.unwrap().unwrap().id, user.id);
        }
    }
    db.close();
}

#[tokio::test]
async fn a_statement_blocked_past_the_timeout_is_cancelled_and_unavailable() {
    let (tag, mut s) = tagged_settings("timeout");
    s.statement_timeout = Duration::from_millis(300);
    let db = connect_migrated(s).await;
    let repos = repos(&db);
    let (principal, task) = stored_task(&repos, "locked").await;

    // Another session holds the row lock for a while.
    let locker = lock_row(&task).await;

    let patch = TaskPatch {
        completed: Some(true),
        ..TaskPatch::default()
    };
    let result = repos
        .tasks
        .update(
            &principal,
            now(),
            task.id,
            &patch,
            &application::ports::Precondition::Any,
        )
        .await;
    assert!(
        matches!(result, Err(RepoError::Unavailable { .. })),
        "{result:?}"
    );
    // The cancel request travels on its own connection: wait until the
    // server has given up the statement before releasing the lock.
    assert!(
        lock_wait_becomes(&tag, false).await,
        "the timed-out statement is still waiting on the server"
    );
    locker.batch_execute("ROLLBACK").await.unwrap();

    // The cancelled update wrote nothing, and the pool still works.
    let stored = repos
        .tasks
        .get(&principal, now() + TimeDelta::seconds(1), task.id)
        .await
        .unwrap();
    assert_eq!(stored.version, 1);
    assert!(!stored.completed);
    db.close();
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let mut s = settings(direct_url());
    s.idle_timeout = Duration::from_millis(200);
    let db = Database::connect(s).await.unwrap();
    assert!(db.ping(Duration::from_secs(5)).await);
    assert!(db.pool_status().size >= 1);
    let mut size = usize::MAX;
    for _ in 0..200 {
        size = db.pool_status().size;
        if size == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(size, 0, "idle connections were kept");
    // And a new one is opened on demand.
    assert!(db.ping(Duration::from_secs(5)).await);
    db.close();
}

#[tokio::test]
async fn an_exhausted_pool_answers_unavailable() {
    let (tag, mut s) = tagged_settings("exhaust");
    s.max_size = 1;
    s.wait_timeout = Duration::from_millis(200);
    // Exhausted for good: no statement may join the busy connection.
    s.pipeline_depth = 1;
    let db = connect_migrated(s).await;
    let repos = repos(&db);
    let (principal, task) = stored_task(&repos, "held").await;

    // Block the only connection on a row lock held elsewhere.
    let locker = lock_row(&task).await;
    let blocked = {
        let tasks = repos.tasks.clone();
        let id = task.id;
        tokio::spawn(async move {
            let patch = TaskPatch {
                completed: Some(true),
                ..TaskPatch::default()
            };
            tasks
                .update(
                    &principal,
                    now(),
                    id,
                    &patch,
                    &application::ports::Precondition::Any,
                )
                .await
        })
    };
    // Wait until the update is really waiting on the lock.
    lock_wait_becomes(&tag, true).await;
    let result = repos.tasks.get(&principal, now(), task.id).await;
    assert!(
        matches!(result, Err(RepoError::Unavailable { .. })),
        "{result:?}"
    );
    assert_eq!(db.pool_status().size, 1);

    locker.batch_execute("ROLLBACK").await.unwrap();
    let updated = blocked.await.unwrap().unwrap();
    assert!(updated.completed);
    assert_eq!(
        repos.tasks.get(&principal, now(), task.id).await.unwrap(),
        updated
    );
    db.close();
}
