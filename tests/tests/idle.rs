//! Idle means idle (issue 11 §2): an orchestrator probing `/readyz` every
//! second keeps no database connection open and sends PostgreSQL nothing,
//! so a Neon compute can suspend. The service's connections are told apart
//! from every other test's by a unique `application_name` in its URL, and
//! counted in `pg_stat_activity`: a statement needs a connection, and a
//! connection the pool opens lives at least `idle_timeout_secs`, so one
//! sample a second would see any.

use std::time::{Duration, Instant};

use e2e_tests::database::url_with_param;
use e2e_tests::{database_url, TestApp, TestDb};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio_postgres::types::Type;
use uuid::Uuid;

const IDLE_TIMEOUT_SECS: u64 = 2;
/// How long the idle service is watched once its connections are gone.
const IDLE_WINDOW: Duration = Duration::from_secs(8);
/// Idle timeout plus the pool's sweep period and a margin for a busy machine.
const RELEASE_LIMIT: Duration = Duration::from_secs(IDLE_TIMEOUT_SECS + 6);

/// Backends PostgreSQL has for `application_name = name`.
async fn connections_named(db: &TestDb, name: &str) -> i64 {
    db.client()
        .query_typed(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
            &[(&name, Type::TEXT)],
        )
        .await
        .expect("pg_stat_activity is readable")[0]
        .get(0)
}

async fn probe(app: &TestApp) -> StatusCode {
    app.request(Method::GET, "/readyz")
        .send()
        .await
        .expect("/readyz answers")
        .status()
}

#[tokio::test]
async fn probes_every_second_keep_no_connection_and_send_nothing_once_idle() {
    let name = format!("idle-{}", Uuid::new_v4().simple());
    let app = TestApp::builder()
        .env(
            "DATABASE_URL",
            url_with_param(database_url(), "application_name", &name),
        )
        .env(
            "APP__DATABASE__IDLE_TIMEOUT_SECS",
            IDLE_TIMEOUT_SECS.to_string(),
        )
        .spawn()
        .await;
    let watcher = TestDb::connect().await;

    // Real traffic: the service uses (and holds) connections.
    let user = app.new_user().await;
    app.new_task(&user, &json!({"title": "wake up"})).await;
    assert!(
        connections_named(&watcher, &name).await > 0,
        "the service's connections carry the application_name"
    );

    // Probes alone: the connections are released after the idle timeout...
    let started = Instant::now();
    loop {
        assert_eq!(probe(&app).await, StatusCode::OK);
        if connections_named(&watcher, &name).await == 0 {
            break;
        }
        assert!(
            started.elapsed() < RELEASE_LIMIT,
            "the service still held database connections {:?} after the last request",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    // ...and none is opened again, however long the probing goes on.
    let idle_since = Instant::now();
    while idle_since.elapsed() < IDLE_WINDOW {
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(probe(&app).await, StatusCode::OK);
        assert_eq!(
            connections_named(&watcher, &name).await,
            0,
            "a probe opened a database connection after {:?} of idleness",
            idle_since.elapsed()
        );
    }

    // The next real request still works (and reconnects).
    let page = app.list_tasks(&user.token, &[]).await;
    assert_eq!(page.status(), StatusCode::OK);
}
