//! Start-up behaviour against the local Neon-like PostgreSQL: each class of
//! connection error gives its own message and exit code, migrations are
//! applied once under concurrency and guarded by checksums, the schema
//! check lists every difference, and the pool survives the server killing
//! its connections.

mod support;

/// Every migration of this build, in order.
const ALL_MIGRATIONS: [&str; 2] = ["0001_init", "0002_login_attempts"];

use std::process::Command;
use std::time::Duration;

use adapter_postgres::{Database, StartupError};
use application::ports::RepoError;
use chrono::TimeDelta;
use domain::{TaskPatch, TaskQuery, Title};
use support::{
    admin, admin_in, create_database, direct_url, drop_database, now, repos, settings, signed_in,
    url_for_database, with_param,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

async fn connect_err(url: &str) -> StartupError {
    match Database::connect(settings(url)).await {
        Ok(_) => panic!("connecting to {url} should fail"),
        Err(err) => {
            eprintln!("start-up error (exit {}): {err}", err.exit_code());
            err
        }
    }
}

/// The test URL with the password replaced.
fn with_password(url: &str, password: &str) -> String {
    let (scheme_user, rest) = url
        .split_once(':')
        .and_then(|(s, r)| r.split_once(':').map(|(u, r)| (format!("{s}:{u}"), r)))
        .unwrap();
    let (_, after) = rest.split_once('@').unwrap();
    format!("{scheme_user}:{password}@{after}")
}

fn with_host_port(url: &str, host_port: &str) -> String {
    let (before, rest) = url.split_once('@').unwrap();
    let (_, after) = rest.split_once('/').unwrap();
    format!("{before}@{host_port}/{after}")
}

fn password_of(url: &str) -> String {
    let after_scheme = url.split_once("://").unwrap().1;
    let userinfo = after_scheme.split_once('@').unwrap().0;
    userinfo.split_once(':').unwrap().1.to_owned()
}

fn assert_no_secret(err: &StartupError) {
    let password = password_of(direct_url());
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
    assert!(matches!(err, StartupError::TlsRequired { .. }), "{err:?}");
    assert!(err.to_string().contains("TLS is required"), "{err}");
    assert_eq!(err.exit_code(), 12);
    assert_no_secret(&err);
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
    let err = connect_err(&with_password(direct_url(), "definitely-wrong")).await;
    assert!(matches!(err, StartupError::AuthFailed { .. }), "{err:?}");
    assert!(
        err.to_string().contains("password authentication failed"),
        "{err}"
    );
    assert_eq!(err.exit_code(), 24);
    assert!(!err.to_string().contains("definitely-wrong"));
}

#[tokio::test]
async fn missing_database_is_named() {
    let url = url_for_database(direct_url(), "no_such_db");
    let err = connect_err(&url).await;
    assert!(
        matches!(err, StartupError::DatabaseMissing { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("`no_such_db` does not exist"),
        "{err}"
    );
    assert_eq!(err.exit_code(), 25);
    assert_no_secret(&err);
}

#[tokio::test]
async fn closed_port_is_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let err = connect_err(&with_host_port(direct_url(), &format!("localhost:{port}"))).await;
    assert!(matches!(err, StartupError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains("refused"), "{err}");
    assert_eq!(err.exit_code(), 21);
    assert_no_secret(&err);
}

#[tokio::test]
async fn unknown_host_is_a_dns_error() {
    let err = connect_err(&with_host_port(direct_url(), "no-such-host.invalid:5432")).await;
    assert!(matches!(err, StartupError::Dns { .. }), "{err:?}");
    assert!(err.to_string().contains("no-such-host.invalid"), "{err}");
    assert_eq!(err.exit_code(), 20);
}

#[tokio::test]
async fn server_without_tls_is_recognised() {
    // Answers every SSLRequest with 'N', as a PostgreSQL without TLS does.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 8];
                if socket.read_exact(&mut request).await.is_ok() {
                    let _ = socket.write_all(b"N").await;
                    let mut rest = [0u8; 256];
                    let _ = socket.read(&mut rest).await;
                }
            });
        }
    });
    let err = connect_err(&with_host_port(direct_url(), &format!("localhost:{port}"))).await;
    assert!(
        matches!(err, StartupError::ServerWithoutTls { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("does not support TLS"), "{err}");
    assert_eq!(err.exit_code(), 23);
}

/// A fresh CA (ECDSA P-256, SHA-256) that signed nothing the server uses.
fn foreign_ca() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("pg-foreign-ca-{}", Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("ca.key");
    let cert = dir.join("ca.pem");
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-sha256",
            "-nodes",
            "-days",
            "1",
        ])
        .args([
            "-subj",
            "/CN=Not The Test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=keyCertSign,cRLSign",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    cert
}

#[tokio::test]
async fn certificate_from_another_ca_is_refused() {
    let ca = foreign_ca();
    let (base, _) = direct_url().split_once("&sslrootcert=").unwrap();
    let url = format!("{base}&sslrootcert={}", ca.display());
    let err = connect_err(&url).await;
    assert!(matches!(err, StartupError::TlsHandshake { .. }), "{err:?}");
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
    assert_eq!(err.exit_code(), 22);
    assert_no_secret(&err);
    std::fs::remove_dir_all(ca.parent().unwrap()).unwrap();
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
    let port = direct_url()
        .split("@localhost:")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let err = connect_err(&with_host_port(direct_url(), &format!("{name}:{port}"))).await;
    assert!(matches!(err, StartupError::TlsHandshake { .. }), "{err:?}");
    assert!(err.to_string().contains("not valid for name"), "{err}");
    assert_eq!(err.exit_code(), 22);
}

#[tokio::test]
async fn four_concurrent_migrators_apply_each_migration_once() {
    let name = create_database().await;
    let url = url_for_database(direct_url(), &name);
    let mut dbs = Vec::new();
    for _ in 0..4 {
        dbs.push(Database::connect(settings(&url)).await.unwrap());
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
    let applied: Vec<_> = reports.iter().filter(|r| !r.applied.is_empty()).collect();
    assert_eq!(applied.len(), 1, "{reports:?}");
    assert_eq!(applied[0].applied, ALL_MIGRATIONS);
    assert!(reports
        .iter()
        .filter(|r| r.applied.is_empty())
        .all(|r| r.already_applied == ALL_MIGRATIONS));
    dbs[0].check_schema().await.unwrap();
    let rows = admin_in(&name, "SELECT count(*) FROM schema_migrations").await;
    assert!(
        matches!(&rows[1], tokio_postgres::SimpleQueryMessage::Row(r)
            if r.get(0) == Some(ALL_MIGRATIONS.len().to_string().as_str()))
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
    let mut dbs = Vec::new();
    for _ in 0..3 {
        dbs.push(Database::connect(settings(&url)).await.unwrap());
    }
    let handles: Vec<_> = dbs
        .iter()
        .cloned()
        .map(|db| tokio::spawn(async move { db.migrate().await }))
        .collect();
    let mut applied = 0;
    for handle in handles {
        let report = handle.await.unwrap().expect("every migrator succeeds");
        applied += report.applied.len();
        assert!(
            report.applied == ALL_MIGRATIONS || report.already_applied == ALL_MIGRATIONS,
            "{report:?}"
        );
    }
    assert_eq!(applied, ALL_MIGRATIONS.len());
    for db in &dbs {
        db.check_schema().await.unwrap();
    }
    for db in dbs {
        db.close();
    }
    drop_database(&name).await;
}

#[tokio::test]
async fn changed_applied_migration_stops_the_start() {
    let name = create_database().await;
    let db = Database::connect(settings(&url_for_database(direct_url(), &name)))
        .await
        .unwrap();
    db.migrate().await.unwrap();
    admin_in(
        &name,
        "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1",
    )
    .await;
    let err = db.migrate().await.unwrap_err();
    assert!(
        matches!(err, StartupError::MigrationChecksum { version: 1, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("changed after it was applied"),
        "{err}"
    );
    assert_eq!(err.exit_code(), 31);
    db.close();
    drop_database(&name).await;
}

/// The key every replica's migration transaction locks ("todo_mig").
const MIGRATION_LOCK_KEY: i64 = 0x746f_646f_5f6d_6967;

/// A superuser session in `database` holding the migration lock until dropped.
async fn hold_migration_lock(database: &str) -> tokio_postgres::Client {
    let config: tokio_postgres::Config = format!("{} dbname={database}", support::admin_url())
        .parse()
        .unwrap();
    let (holder, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
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
            assert_eq!(report.already_applied, ALL_MIGRATIONS);
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
    assert_eq!(first.migrate().await.unwrap().applied, ALL_MIGRATIONS);
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
    let name = create_database().await;
    let url = url_for_database(direct_url(), &name);
    let first = Database::connect(settings(&url)).await.unwrap();
    first.migrate().await.unwrap();
    first.close();
    admin_in(
        &name,
        "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1",
    )
    .await;
    let _holder = hold_migration_lock(&name).await;
    let (db, migrated) = start_without_the_lock(&url).await;
    let err = migrated.unwrap_err();
    assert!(
        matches!(err, StartupError::MigrationChecksum { version: 1, .. }),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), 31);
    db.close();
    drop_database(&name).await;
}

#[tokio::test]
async fn a_later_start_lists_every_schema_difference() {
    let name = create_database().await;
    let url = url_for_database(direct_url(), &name);
    let first = Database::connect(settings(&url)).await.unwrap();
    first.migrate().await.unwrap();
    first.close();
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
    let db = Database::connect(settings(&url_for_database(direct_url(), &name)))
        .await
        .unwrap();
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

#[tokio::test]
async fn reads_survive_the_server_terminating_every_pooled_connection() {
    let tag = format!("terminate-{}", Uuid::now_v7().simple());
    let db = Database::connect(settings(&with_param(
        direct_url(),
        &format!("application_name={tag}"),
    )))
    .await
    .unwrap();
    db.migrate().await.unwrap();
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
    let tag = format!("timeout-{}", Uuid::now_v7().simple());
    let mut s = settings(&with_param(
        direct_url(),
        &format!("application_name={tag}"),
    ));
    s.statement_timeout = Duration::from_millis(300);
    let db = Database::connect(s).await.unwrap();
    db.migrate().await.unwrap();
    let repos = repos(&db);
    let (user, _, principal) = signed_in(&repos).await;
    let task = domain::Task {
        id: domain::TaskId::new(),
        user_id: user.id,
        title: Title::parse("locked").unwrap(),
        description: None,
        completed: false,
        priority: domain::Priority::Medium,
        due_at: None,
        created_at: now(),
        updated_at: now(),
        version: 1,
    };
    repos
        .tasks
        .create(&principal, now(), &task, None)
        .await
        .unwrap();

    // Another session holds the row lock for a while.
    let config: tokio_postgres::Config = format!("{} dbname=app", support::admin_url())
        .parse()
        .unwrap();
    let (locker, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    locker
        .batch_execute(&format!(
            "BEGIN; SELECT 1 FROM tasks WHERE id = '{}' FOR UPDATE",
            task.id
        ))
        .await
        .unwrap();

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
    let mut waiting = true;
    for _ in 0..200 {
        let rows = admin(&format!(
            "SELECT 1 FROM pg_stat_activity WHERE application_name = '{tag}' AND wait_event_type = 'Lock'"
        ))
        .await;
        waiting = rows
            .iter()
            .any(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_)));
        if !waiting {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !waiting,
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
    let tag = format!("exhaust-{}", Uuid::now_v7().simple());
    let mut s = settings(&with_param(
        direct_url(),
        &format!("application_name={tag}"),
    ));
    s.max_size = 1;
    s.wait_timeout = Duration::from_millis(200);
    let db = Database::connect(s).await.unwrap();
    db.migrate().await.unwrap();
    let repos = repos(&db);
    let (user, _, principal) = signed_in(&repos).await;
    let task = domain::NewTask {
        title: Title::parse("held").unwrap(),
        description: None,
        completed: false,
        priority: domain::Priority::Medium,
        due_at: None,
    }
    .into_task(user.id, now());
    repos
        .tasks
        .create(&principal, now(), &task, None)
        .await
        .unwrap();

    // Block the only connection on a row lock held elsewhere.
    let config: tokio_postgres::Config = format!("{} dbname=app", support::admin_url())
        .parse()
        .unwrap();
    let (locker, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    locker
        .batch_execute(&format!(
            "BEGIN; SELECT 1 FROM tasks WHERE id = '{}' FOR UPDATE",
            task.id
        ))
        .await
        .unwrap();
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
    for _ in 0..200 {
        let rows = admin(&format!(
            "SELECT 1 FROM pg_stat_activity WHERE application_name = '{tag}' AND wait_event_type = 'Lock'"
        ))
        .await;
        if rows
            .iter()
            .any(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_)))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
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
