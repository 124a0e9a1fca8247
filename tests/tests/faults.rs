//! Faults between the service and its database, against the real local
//! PostgreSQL over TLS, each bounded in time and on loopback only:
//!
//! - PostgreSQL restarted (fast shutdown, then start) under a steady write
//!   load, on a cluster of these tests' own (`neon-local.sh --cluster
//!   faults`), never the shared test cluster;
//! - every pooled connection terminated by the server (`pg_terminate_backend`
//!   on this app's backends only, found by a unique `application_name`);
//! - the database unreachable at start, and gone while serving;
//! - the connection between service and database cut and restored, by a
//!   proxy in this process ([`e2e_tests::fault_proxy`]).
//!
//! The write load retries with the same `Idempotency-Key`, so "nothing lost,
//! nothing twice" is checked against the rows: every 201 exists, no key has
//! two rows.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use e2e_tests::api::{expect_json, expect_problem};
use e2e_tests::database::{url_password, url_with_param};
use e2e_tests::db_url;
use e2e_tests::fault_cluster::FaultCluster;
use e2e_tests::fault_proxy::CutProxy;
use e2e_tests::write_load::{time_until_ok, WriteLoad};
use e2e_tests::{database_url, start_expecting_failure, ServerEnv, TestApp, TestDb, TestUser};
use futures_like::join_all;
use reqwest::header::RETRY_AFTER;
use reqwest::{Method, Response, StatusCode};
use serde_json::json;
use tokio_postgres::types::Type;
use uuid::Uuid;

/// How long a request waits for a pooled connection before its 503.
const WAIT_TIMEOUT_MS: u64 = 1_000;
/// Bound on setting up one database connection (TCP, TLS, SCRAM). A debug
/// build's SCRAM alone takes up to a second on a busy 2-core machine.
const CONNECT_TIMEOUT_MS: u64 = 5_000;
/// A refusal must come within the pool's bounds plus this margin (a loaded
/// 2-core machine runs the whole suite next to these tests).
const MARGIN: Duration = Duration::from_secs(2);
/// A request without an answer after this long counts as hung.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(15);
/// The promise: serving again this soon after the database is back.
const RECOVERY_LIMIT: Duration = Duration::from_secs(2);
/// Concurrent clients of the write load.
const WRITERS: usize = 4;

/// The two tests with a write load take turns: on a 2-core machine, two
/// debug servers reconnecting at once would mostly measure each other.
static WRITE_LOAD_TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The latest moment a 503 may come.
fn answer_bound() -> Duration {
    Duration::from_millis(WAIT_TIMEOUT_MS + CONNECT_TIMEOUT_MS) + MARGIN
}

/// A server on `url` with the pool bounds above.
fn fault_app(url: &str) -> e2e_tests::TestAppBuilder {
    TestApp::builder()
        .env("DATABASE_URL", url)
        .env(
            "APP__DATABASE__WAIT_TIMEOUT_MS",
            WAIT_TIMEOUT_MS.to_string(),
        )
        .env(
            "APP__DATABASE__CONNECT_TIMEOUT_MS",
            CONNECT_TIMEOUT_MS.to_string(),
        )
}

/// The suite's database as a loopback address the proxy can forward to, or
/// `None` when the suite runs against a remote database (a Neon branch,
/// whose TLS name and SNI a loopback proxy cannot stand in for).
fn loopback_database() -> Option<SocketAddr> {
    let url = database_url();
    if !matches!(db_url::host(url), "localhost" | "127.0.0.1") {
        return None;
    }
    Some(SocketAddr::from((Ipv4Addr::LOCALHOST, db_url::port(url)?)))
}

/// A server whose database connections go through a [`CutProxy`], or
/// `None` (with a note) when the suite's database is not on loopback.
async fn behind_a_cut_proxy() -> Option<(CutProxy, TestApp)> {
    let Some(database) = loopback_database() else {
        eprintln!("skipped: the suite's database is not on loopback");
        return None;
    };
    let proxy = CutProxy::start(database).await;
    let url = url_with_port(database_url(), proxy.port());
    let app = fault_app(&url).spawn().await;
    Some((proxy, app))
}

/// The suite's URL pointing at `localhost:<port>` (the name the local
/// clusters' certificates carry).
fn url_with_port(url: &str, port: u16) -> String {
    db_url::with_host_port(url, "localhost", port)
}

/// The service answered 200 again within [`RECOVERY_LIMIT`] of `event`.
fn assert_recovered(recovered: Option<Duration>, event: &str) {
    let recovered =
        recovered.unwrap_or_else(|| panic!("the service never answered 200 again after {event}"));
    assert!(
        recovered <= RECOVERY_LIMIT,
        "the service answered 200 only {recovered:?} after {event} (limit {RECOVERY_LIMIT:?})"
    );
}

/// Whether a response is a 503 problem with `Retry-After`.
async fn assert_unavailable(response: Response) {
    assert!(
        response.headers().contains_key(RETRY_AFTER),
        "a 503 carries Retry-After: {:?}",
        response.headers()
    );
    expect_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
}

async fn get(app: &TestApp, path: &str) -> Response {
    tokio::time::timeout(CLIENT_TIMEOUT, app.request(Method::GET, path).send())
        .await
        .unwrap_or_else(|_| panic!("GET {path} hung for {CLIENT_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("GET {path} got no answer: {e}"))
}

/// Polls `path` until it answers `status`; returns how long that took.
async fn wait_for_status(
    app: &TestApp,
    path: &str,
    status: StatusCode,
    limit: Duration,
) -> Duration {
    let started = Instant::now();
    loop {
        let got = get(app, path).await.status();
        if got == status {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "GET {path} still answers {got} after {limit:?}, expected {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------
// PostgreSQL restarted.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_write_load_loses_nothing_and_serves_again_without_a_restart() {
    e2e_tests::needs_own_server!("points the server at a database it restarts");
    let _turn = WRITE_LOAD_TURN.lock().await;
    let cluster = FaultCluster::acquire().await;
    let app = fault_app(cluster.url()).spawn().await;
    let user = app.new_user().await;
    let load = WriteLoad::start(app.api(), &user, WRITERS, CLIENT_TIMEOUT);
    tokio::time::sleep(Duration::from_millis(800)).await;

    cluster.stop().await;
    // Requests keep coming while the database is down.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    cluster.start().await;
    let recovered = time_until_ok(app.api(), &user.token, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let report = load.finish().await;

    let admin = cluster.admin().await;
    let rows: Vec<(Uuid, Option<String>)> = admin
        .query_typed(
            "SELECT id, idempotency_key FROM tasks WHERE user_id = $1",
            &[(&user.id, Type::UUID)],
        )
        .await
        .expect("tasks query")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    println!(
        "postgres restart: {}; {} rows; 200 again {:?} after start returned",
        report.summary(),
        rows.len(),
        recovered
    );
    let _ = admin
        .execute_typed("DELETE FROM users WHERE id = $1", &[(&user.id, Type::UUID)])
        .await;

    assert_recovered(recovered, "PostgreSQL was back");
    report.assert_outage_survived(&rows, answer_bound());
    expect_json(get(&app, "/healthz").await, StatusCode::OK).await;
}

// ---------------------------------------------------------------------------
// Every pooled connection terminated by the server.

/// Terminates every backend of `application_name` and waits until they are
/// gone; returns how many there were. Runs as the app role, which may
/// signal its own backends, so it also works on a shared database.
async fn terminate_backends(db: &TestDb, application_name: &str) -> i64 {
    let killed: i64 = db
        .client()
        .query_typed(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
               FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()",
            &[(&application_name, Type::TEXT)],
        )
        .await
        .expect("pg_terminate_backend")[0]
        .get(0);
    let started = Instant::now();
    loop {
        let left: i64 = db
            .client()
            .query_typed(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                &[(&application_name, Type::TEXT)],
            )
            .await
            .expect("pg_stat_activity")[0]
            .get(0);
        if left == 0 {
            return killed;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{left} terminated backends of {application_name} are still there"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `POOL` reads at once, so the pool holds `POOL` connections.
async fn concurrent_reads(app: &TestApp, user: &TestUser, ids: &[Uuid], n: usize) -> Vec<Response> {
    let requests = (0..n).map(|i| {
        let api = app.api().clone();
        let token = user.token.clone();
        let id = ids[i % ids.len()].to_string();
        async move {
            if i % 2 == 0 {
                api.list_tasks(&token, &[]).await
            } else {
                api.get_task(&token, &id).await
            }
        }
    });
    join_all(requests).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_server_terminates_every_pooled_connection_reads_succeed_and_writes_happen_once()
{
    e2e_tests::needs_own_server!("sets the server's pool size and database URL");
    const POOL: usize = 4;
    let application_name = format!("fault-{}", Uuid::new_v4().simple());
    let url = url_with_param(database_url(), "application_name", &application_name);
    let app = fault_app(&url)
        .env("APP__DATABASE__MAX_SIZE", POOL.to_string())
        .spawn()
        .await;
    let user = app.new_user().await;
    let mut ids = Vec::new();
    for title in ["one", "two", "three"] {
        ids.push(app.new_task(&user, &json!({"title": title})).await.id);
    }
    for response in concurrent_reads(&app, &user, &ids, POOL).await {
        expect_json(response, StatusCode::OK).await;
    }
    let db = app.db().await;

    // Reads: one after another, then as many at once as the pool holds.
    let killed = terminate_backends(db, &application_name).await;
    assert!(killed >= 1, "the app had pooled connections to terminate");
    expect_json(app.list_tasks(&user.token, &[]).await, StatusCode::OK).await;
    expect_json(
        app.get_task(&user.token, &ids[0].to_string()).await,
        StatusCode::OK,
    )
    .await;
    expect_json(app.list_tasks(&user.token, &[]).await, StatusCode::OK).await;
    for response in concurrent_reads(&app, &user, &ids, POOL).await {
        expect_json(response, StatusCode::OK).await;
    }
    let killed_again = terminate_backends(db, &application_name).await;
    assert!(killed_again >= 1, "the reads reopened connections");
    let mut reads_after_second_cut = 0;
    for response in concurrent_reads(&app, &user, &ids, POOL).await {
        expect_json(response, StatusCode::OK).await;
        reads_after_second_cut += 1;
    }

    // Writes, at once, on connections the server just killed.
    let version_before = db.task(ids[0]).await.expect("task one").version;
    terminate_backends(db, &application_name).await;
    let keys: Vec<String> = (0..POOL).map(|_| Uuid::new_v4().to_string()).collect();
    let creates = keys.iter().map(|key| {
        let api = app.api().clone();
        let token = user.token.clone();
        let key = key.clone();
        async move {
            let response = api
                .create_task_with_key(&token, &key, &json!({"title": format!("keyed {key}")}))
                .await;
            (key, response)
        }
    });
    let (first, second) = (ids[0].to_string(), ids[1].to_string());
    let rename = json!({"title": "one, renamed"});
    let (created, patched, deleted) = tokio::join!(
        join_all(creates),
        app.patch_task(&user.token, &first, &rename, Some(version_before)),
        app.delete_task(&user.token, &second),
    );

    let mut write_outcomes = Vec::new();
    for (key, response) in created {
        let status = response.status();
        write_outcomes.push(status);
        let rows: Vec<_> = db
            .tasks_of(user.id)
            .await
            .into_iter()
            .filter(|row| row.idempotency_key.as_deref() == Some(key.as_str()))
            .collect();
        assert!(
            rows.len() <= 1,
            "key {key} was written {} times",
            rows.len()
        );
        if status == StatusCode::CREATED {
            let body = expect_json(response, StatusCode::CREATED).await;
            assert_eq!(rows.len(), 1, "the 201 for key {key} left no row");
            assert_eq!(body["id"].as_str(), Some(rows[0].id.to_string().as_str()));
        } else {
            assert!(status.is_server_error(), "create with key {key}: {status}");
            expect_problem(response, status).await;
        }
    }
    let patch_status = patched.status();
    write_outcomes.push(patch_status);
    let version_after = db.task(ids[0]).await.expect("task one").version;
    if patch_status == StatusCode::OK {
        expect_json(patched, StatusCode::OK).await;
        assert_eq!(version_after, version_before + 1, "the patch applied once");
    } else {
        assert!(patch_status.is_server_error(), "patch: {patch_status}");
        expect_problem(patched, patch_status).await;
        assert!(
            version_after == version_before || version_after == version_before + 1,
            "a failed patch applied at most once: version {version_before} -> {version_after}"
        );
    }
    let delete_status = deleted.status();
    write_outcomes.push(delete_status);
    if delete_status == StatusCode::NO_CONTENT {
        assert!(db.task(ids[1]).await.is_none(), "the 204 deleted the row");
    } else {
        assert!(delete_status.is_server_error(), "delete: {delete_status}");
        expect_problem(deleted, delete_status).await;
    }
    println!(
        "pg_terminate_backend: {killed} then {killed_again} pooled connections killed; \
         {reads_after_second_cut} concurrent reads afterwards all 200; writes after a third cut: {write_outcomes:?}"
    );
}

// ---------------------------------------------------------------------------
// Unreachable at start, gone while serving.

#[tokio::test]
async fn an_unreachable_database_at_start_is_retried_with_backoff_then_a_clear_exit() {
    e2e_tests::needs_own_server!("starts the server against an unreachable database");
    const BUDGET_MS: u64 = 2_000;
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("its address").port()
    };
    let env = ServerEnv::working()
        .set("DATABASE_URL", url_with_port(database_url(), closed_port))
        .set(
            "APP__DATABASE__STARTUP_RETRY_BUDGET_MS",
            BUDGET_MS.to_string(),
        );

    let started = Instant::now();
    let start = start_expecting_failure(&env).await;
    let took = started.elapsed();

    let output = start.all_output();
    let retries = output
        .lines()
        .filter(|line| line.to_lowercase().contains("retrying"))
        .count();
    println!(
        "unreachable at start: exit {} after {took:?}, {retries} retries logged",
        start.status
    );
    assert!(!start.status.success(), "exits non-zero: {output}");
    assert!(
        start.stderr.contains("cannot reach the database")
            && start.stderr.contains(&closed_port.to_string()),
        "the last words name the unreachable database and its port:\n{}",
        start.stderr
    );
    assert!(
        retries >= 2,
        "it retried with backoff before giving up ({retries} retries logged):\n{output}"
    );
    assert!(
        took >= Duration::from_millis(500),
        "retrying takes time; it gave up after {took:?}:\n{output}"
    );
    assert!(
        took <= Duration::from_millis(BUDGET_MS) + Duration::from_secs(8),
        "it gives up within its retry budget ({BUDGET_MS} ms) plus start-up: {took:?}"
    );
    let password = url_password(database_url()).expect("the URL has a password");
    assert!(
        !output.contains(&password),
        "the output shows the database password"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_gone_while_serving_makes_readyz_503_while_healthz_stays_200() {
    e2e_tests::needs_own_server!("puts a proxy between the server and its database");
    let Some((proxy, app)) = behind_a_cut_proxy().await else {
        return;
    };
    let user = app.new_user().await;
    expect_json(get(&app, "/readyz").await, StatusCode::OK).await;

    proxy.refuse(true);
    proxy.cut_all();
    let noticed = wait_for_status(
        &app,
        "/readyz",
        StatusCode::SERVICE_UNAVAILABLE,
        answer_bound(),
    )
    .await;
    for _ in 0..3 {
        assert_unavailable(get(&app, "/readyz").await).await;
        expect_json(get(&app, "/healthz").await, StatusCode::OK).await;
    }
    assert_unavailable(app.list_tasks(&user.token, &[]).await).await;

    proxy.refuse(false);
    let back = wait_for_status(&app, "/readyz", StatusCode::OK, RECOVERY_LIMIT).await;
    expect_json(get(&app, "/healthz").await, StatusCode::OK).await;
    expect_json(app.list_tasks(&user.token, &[]).await, StatusCode::OK).await;
    println!("database gone: /readyz 503 after {noticed:?}; 200 again {back:?} after it came back");
}

// ---------------------------------------------------------------------------
// The connection between service and database cut and restored.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_cut_and_restored_under_write_load_lose_nothing_and_reads_never_fail() {
    e2e_tests::needs_own_server!("puts a proxy between the server and its database");
    let _turn = WRITE_LOAD_TURN.lock().await;
    let Some((proxy, app)) = behind_a_cut_proxy().await else {
        return;
    };
    let user = app.new_user().await;
    let reader = app.new_user().await;
    let kept = app.new_task(&reader, &json!({"title": "kept"})).await;
    let load = WriteLoad::start(app.api(), &user, WRITERS, CLIENT_TIMEOUT);
    tokio::time::sleep(Duration::from_millis(800)).await;

    // The network fails: every connection cut, new ones refused for a while.
    let live_before = proxy.live_connections();
    proxy.refuse(true);
    proxy.cut_all();
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    proxy.refuse(false);
    let recovered = time_until_ok(app.api(), &user.token, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // A blip: every connection cut, reconnecting allowed at once. The next
    // reads, in a row and at once, see nothing of it.
    let live_at_blip = proxy.live_connections();
    proxy.cut_all();
    for _ in 0..3 {
        let page = app.task_page(&reader, &[]).await;
        assert_eq!(page.items.len(), 1);
    }
    let reads = (0..8).map(|_| {
        let api = app.api().clone();
        let token = reader.token.clone();
        let id = kept.id.to_string();
        async move { api.get_task(&token, &id).await }
    });
    for response in join_all(reads).await {
        expect_json(response, StatusCode::OK).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let report = load.finish().await;

    let rows = app.db().await.task_keys_of(user.id).await;
    println!(
        "connection cut: {live_before} then {live_at_blip} live connections cut; {}; {} rows; \
         200 again {recovered:?} after reconnecting was allowed; {} connections forwarded",
        report.summary(),
        rows.len(),
        proxy.forwarded_connections()
    );
    assert_recovered(recovered, "the network was back");
    assert!(live_before >= 1, "the server had connections to cut");
    report.assert_outage_survived(&rows, answer_bound());
}

/// `futures::future::join_all` without the dependency: spawn each and await
/// them in order.
mod futures_like {
    use std::future::Future;

    pub async fn join_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
        let mut outputs = Vec::with_capacity(handles.len());
        for handle in handles {
            outputs.push(handle.await.expect("a concurrent request panicked"));
        }
        outputs
    }
}
