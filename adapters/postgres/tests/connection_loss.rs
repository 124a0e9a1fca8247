//! What Neon does to connections, done to the real server: every server
//! connection killed at once (a suspend, restart or failover) under read
//! load, and a clean close at shutdown (Terminate, no abrupt disconnect in
//! PostgreSQL's log). Each test works in its own throwaway database, so
//! killing "every connection" there touches no other test.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use adapter_postgres::Database;
use application::ports::Principal;
use domain::{Priority, Task, TaskId, TaskQuery, Title};
use support::{
    admin, create_database, direct_url, drop_database, now, pooler_url, repos, settings, signed_in,
    url_for_database, with_param, Repos,
};
use tokio_postgres::SimpleQueryMessage;

/// A migrated throwaway database and a handle on it through `url`.
async fn fresh(url: &str, database: &str, pool: usize) -> Database {
    let direct = Database::connect(settings(&url_for_database(direct_url(), database)))
        .await
        .expect("connect direct");
    direct.migrate().await.expect("migrate");
    direct.shutdown().await;
    let mut settings = settings(&url_for_database(url, database));
    settings.max_size = pool;
    Database::connect(settings).await.expect("connect")
}

async fn seeded(repos: &Repos) -> (Principal, TaskId) {
    let (_, _, principal) = signed_in(repos).await;
    let task = Task {
        id: TaskId::new(),
        user_id: principal.user_id,
        title: Title::parse("read me").unwrap(),
        description: None,
        completed: false,
        priority: Priority::Medium,
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
    (principal, task.id)
}

fn count(rows: &[SimpleQueryMessage]) -> usize {
    rows.iter()
        .filter(|m| matches!(m, SimpleQueryMessage::Row(_)))
        .count()
}

/// Kills every server connection to `database` (PgBouncer's included);
/// returns how many it killed.
async fn kill_all(database: &str) -> usize {
    count(
        &admin(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = '{database}' AND pid <> pg_backend_pid()"
        ))
        .await,
    )
}

/// Eight readers share a pool of four; once each has read a few times,
/// every server connection is killed at once, and every read before and
/// after must succeed.
async fn reads_survive_every_connection_killed_at_once(url: &str) {
    let database = create_database().await;
    let db = fresh(url, &database, 4).await;
    let repos = Arc::new(repos(&db));
    let (principal, task_id) = seeded(&repos).await;
    const READERS: usize = 8;
    const READS_BEFORE: usize = 5;
    const READS: usize = 40;
    let warmed = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(tokio::sync::Notify::new());
    let mut readers = Vec::new();
    for reader in 0..READERS {
        let repos = Arc::clone(&repos);
        let warmed = Arc::clone(&warmed);
        let killed = Arc::clone(&killed);
        readers.push(tokio::spawn(async move {
            let notified = killed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let mut failures = Vec::new();
            for i in 0..READS {
                if i == READS_BEFORE {
                    warmed.fetch_add(1, Ordering::SeqCst);
                    // Wait for the kill, then read on at once.
                    notified.as_mut().await;
                }
                let result = if (i + reader) % 2 == 0 {
                    repos
                        .tasks
                        .get(&principal, now(), task_id)
                        .await
                        .map(|_| ())
                } else {
                    repos
                        .tasks
                        .list(&principal, now(), &TaskQuery::default())
                        .await
                        .map(|_| ())
                };
                if let Err(err) = result {
                    failures.push(format!("read {i}: {err:?}"));
                }
            }
            failures
        }));
    }
    while warmed.load(Ordering::SeqCst) < READERS {
        tokio::task::yield_now().await;
    }
    let killed_backends = kill_all(&database).await;
    killed.notify_waiters();
    let mut failures = Vec::new();
    for reader in readers {
        failures.extend(reader.await.unwrap());
    }
    db.shutdown().await;
    drop_database(&database).await;
    assert!(killed_backends >= 1, "no server connection was killed");
    assert!(failures.is_empty(), "reads failed: {failures:#?}");
}

#[tokio::test]
async fn direct_reads_survive_every_connection_killed_at_once() {
    reads_survive_every_connection_killed_at_once(direct_url()).await;
}

#[tokio::test]
async fn pooled_reads_survive_every_server_connection_killed_at_once() {
    reads_survive_every_connection_killed_at_once(pooler_url()).await;
}

/// PostgreSQL's log, where an abrupt client disconnect leaves "could not
/// receive data from client" (or "unexpected EOF") under the backend's pid.
const POSTGRES_LOG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../.local/neon-test/postgres.log"
);

/// How long the test cluster's log is now: lines past it are this test's
/// time (the log spans cluster restarts, whose process ids repeat).
fn postgres_log_len() -> usize {
    std::fs::metadata(POSTGRES_LOG).map_or(0, |m| m.len() as usize)
}

/// The test cluster's log from byte `from` on.
fn postgres_log_since(from: usize) -> String {
    let bytes = std::fs::read(POSTGRES_LOG).expect("read the test cluster's postgres.log");
    String::from_utf8_lossy(bytes.get(from..).unwrap_or_default()).into_owned()
}

#[tokio::test]
async fn shutdown_closes_every_connection_with_terminate() {
    let log_start = postgres_log_len();
    let database = create_database().await;
    let app_name = format!("drain_{}", uuid::Uuid::now_v7().simple());
    let url = with_param(
        &url_for_database(direct_url(), &database),
        &format!("application_name={app_name}"),
    );
    let direct = Database::connect(settings(&url)).await.expect("connect");
    direct.migrate().await.expect("migrate");
    let repos = repos(&direct);
    let (principal, task_id) = seeded(&repos).await;
    // Several reads at once, so the pool opens several connections.
    let reads = (0..8).map(|_| repos.tasks.get(&principal, now(), task_id));
    for read in futures_util::future::join_all(reads).await {
        read.unwrap();
    }
    let pids: Vec<String> = admin(&format!(
        "SELECT pid FROM pg_stat_activity WHERE application_name = '{app_name}'"
    ))
    .await
    .into_iter()
    .filter_map(|m| match m {
        SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
        _ => None,
    })
    .collect();
    assert!(pids.len() >= 2, "expected several connections: {pids:?}");

    direct.shutdown().await;

    // The backends are gone once they read the Terminate; wait for that
    // (a condition, not a timer), then read what they logged.
    loop {
        let left = count(
            &admin(&format!(
                "SELECT pid FROM pg_stat_activity WHERE application_name = '{app_name}'"
            ))
            .await,
        );
        if left == 0 {
            break;
        }
        tokio::task::yield_now().await;
    }
    drop_database(&database).await;
    let log = postgres_log_since(log_start);
    let abrupt: Vec<&str> = log
        .lines()
        .filter(|line| pids.iter().any(|pid| line.contains(&format!("[{pid}]"))))
        .filter(|line| {
            line.contains("could not receive data from client")
                || line.contains("unexpected EOF")
                || line.contains("SSL error")
                || line.contains("connection reset")
        })
        .collect();
    assert!(abrupt.is_empty(), "abrupt disconnects logged: {abrupt:#?}");
}
