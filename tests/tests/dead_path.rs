//! A dead network path to the database (issue 11 §4): the one pooled
//! connection of a server is black-holed with nftables (its packets dropped
//! both ways, see [`e2e_tests::black_hole`]) while the database itself
//! stays up. `database.tcp_user_timeout_secs` must make the service give
//! that connection up in bounded time and carry on with a new one, while
//! the old connection's packets are still being dropped: without it a write
//! would wait for the statement timeout (set far longer here) and the
//! socket for the kernel's ~15 minutes of retransmissions. An idle
//! connection cut that way is found by TCP keepalives
//! (`database.keepalive_idle_secs`) and closed before a request needs it.
//!
//! Runs as root with `nft` (Debian's `nftables`); fails, saying how to
//! install it, when `nft` is missing.

use std::future::Future;
use std::time::{Duration, Instant};

use e2e_tests::api::{expect_json, expect_problem};
use e2e_tests::black_hole::{connections_to, require_nft, BlackHole, TcpConnection};
use e2e_tests::{database_url, db_url, TestApp, TestUser};
use reqwest::header::RETRY_AFTER;
use reqwest::{Response, StatusCode};
use serde_json::json;

/// The user timeout under test.
const USER_TIMEOUT_SECS: u64 = 2;
/// Far above the user timeout, so that only the user timeout can end a
/// stuck statement within [`ANSWER_BOUND`].
const STATEMENT_TIMEOUT_MS: u64 = 60_000;
/// Above the statement timeout, so that the HTTP layer does not answer
/// for the database either.
const REQUEST_TIMEOUT_MS: u64 = 120_000;
/// Headroom for a loaded 2-core machine running the suite alongside.
const MARGIN: Duration = Duration::from_secs(6);
/// A request on the dead connection is answered within this.
const ANSWER_BOUND: Duration = Duration::from_secs(USER_TIMEOUT_SECS).saturating_add(MARGIN);
/// How long the pool may take to show its connection after a request.
const SETTLE: Duration = Duration::from_secs(5);
/// Idle time before the first keepalive probe, in the keepalive test.
const KEEPALIVE_IDLE_SECS: u64 = 1;
/// The adapter's fixed interval between keepalive probes: the kernel gives
/// a connection up at the first probe due once the user timeout passed.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
/// An idle black-holed connection is closed within this.
const IDLE_CLOSE_BOUND: Duration = Duration::from_secs(KEEPALIVE_IDLE_SECS)
    .saturating_add(KEEPALIVE_INTERVAL)
    .saturating_add(MARGIN);

/// A server with one pooled connection, the short user timeout and long
/// statement and request timeouts (and default keepalives).
async fn one_connection_app() -> TestApp {
    one_connection_builder().spawn().await
}

fn one_connection_builder() -> e2e_tests::TestAppBuilder {
    TestApp::builder()
        .env("APP__DATABASE__MAX_SIZE", "1")
        .env(
            "APP__DATABASE__TCP_USER_TIMEOUT_SECS",
            USER_TIMEOUT_SECS.to_string(),
        )
        .env(
            "APP__DATABASE__STATEMENT_TIMEOUT_MS",
            STATEMENT_TIMEOUT_MS.to_string(),
        )
        .env(
            "APP__SERVER__REQUEST_TIMEOUT_MS",
            REQUEST_TIMEOUT_MS.to_string(),
        )
}

fn database_port() -> u16 {
    db_url::port(database_url()).unwrap_or(5432)
}

/// The server's one connection to the database, once it is the only one
/// (the start-up's migration connection closes on its own).
async fn the_database_connection(app: &TestApp) -> TcpConnection {
    let started = Instant::now();
    loop {
        let connections = connections_to(app.server_pid(), database_port());
        if let [only] = connections.as_slice() {
            return *only;
        }
        assert!(
            started.elapsed() < SETTLE,
            "the server (pool size 1) holds {} connections to the database: {connections:?}",
            connections.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Awaits `request` until `deadline`: a request still unanswered then hung
/// on the dead connection.
async fn answered_by(
    deadline: Instant,
    what: &str,
    request: impl Future<Output = Response>,
) -> Response {
    let left = deadline.saturating_duration_since(Instant::now());
    tokio::time::timeout(left, request)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{what} got no answer within {ANSWER_BOUND:?} of the black hole: the dead \
             connection was not given up (is the TCP user timeout of {USER_TIMEOUT_SECS} s in \
             effect?)"
            )
        })
}

/// A server whose single connection exists and is black-holed, with a user
/// and a task of theirs made before the cut.
async fn cut_off(app: TestApp) -> (TestApp, TestUser, String, TcpConnection, BlackHole) {
    let user = app.new_user().await;
    let task = app
        .new_task(&user, &json!({"title": "before the cut"}))
        .await;
    let old = the_database_connection(&app).await;
    let hole = BlackHole::cut(&old);
    (app, user, task.id.to_string(), old, hole)
}

/// After the dead connection was given up: the server holds one new
/// connection to the database, and the old one is gone, while the black
/// hole is still in place.
async fn assert_replaced(app: &TestApp, old: TcpConnection, hole: &BlackHole) {
    let new = the_database_connection(app).await;
    assert_ne!(
        new, old,
        "the server still uses the black-holed connection {old:?}"
    );
    assert!(
        hole.is_in_place(),
        "the black hole is still in place while the new connection works"
    );
}

#[tokio::test]
async fn a_write_on_a_black_holed_connection_is_refused_in_bounded_time_and_a_new_connection_takes_over(
) {
    e2e_tests::needs_own_server!("sets the pool size and timeouts and cuts the server's socket");
    require_nft();
    let (app, user, task_id, old, hole) = cut_off(one_connection_app().await).await;
    let deadline = Instant::now() + ANSWER_BOUND;

    // A write on the dead connection: sent, never acknowledged. It cannot
    // be run again safely, so the client is told to retry.
    let refused = answered_by(
        deadline,
        "a PATCH on the black-holed connection",
        app.patch_task(&user.token, &task_id, &json!({"title": "cut"}), None),
    )
    .await;
    assert!(
        refused.headers().contains_key(RETRY_AFTER),
        "a 503 carries Retry-After: {:?}",
        refused.headers()
    );
    expect_problem(refused, StatusCode::SERVICE_UNAVAILABLE).await;

    // The retry succeeds at once, on a new connection, with the old 4-tuple
    // still black-holed.
    let retried = answered_by(
        deadline,
        "the retried PATCH",
        app.patch_task(&user.token, &task_id, &json!({"title": "retried"}), None),
    )
    .await;
    let body = expect_json(retried, StatusCode::OK).await;
    assert_eq!(body["title"], "retried", "{body}");
    assert_replaced(&app, old, &hole).await;
}

#[tokio::test]
async fn a_read_on_a_black_holed_connection_is_answered_in_bounded_time_from_a_new_connection() {
    e2e_tests::needs_own_server!("sets the pool size and timeouts and cuts the server's socket");
    require_nft();
    let (app, user, task_id, old, hole) = cut_off(one_connection_app().await).await;
    let deadline = Instant::now() + ANSWER_BOUND;

    // A read may run again: its connection failing costs the client only
    // the user timeout, never an error.
    let read = answered_by(
        deadline,
        "a GET on the black-holed connection",
        app.get_task(&user.token, &task_id),
    )
    .await;
    let body = expect_json(read, StatusCode::OK).await;
    assert_eq!(body["title"], "before the cut", "{body}");
    assert_replaced(&app, old, &hole).await;
}

#[tokio::test]
async fn a_black_holed_idle_connection_is_closed_by_keepalives_so_the_next_write_succeeds() {
    e2e_tests::needs_own_server!("sets the pool size and timeouts and cuts the server's socket");
    require_nft();
    let app = one_connection_builder()
        .env(
            "APP__DATABASE__KEEPALIVE_IDLE_SECS",
            KEEPALIVE_IDLE_SECS.to_string(),
        )
        .spawn()
        .await;
    let (app, user, task_id, old, hole) = cut_off(app).await;
    let cut_at = Instant::now();

    // No request: the unanswered keepalive probes alone end the connection.
    while connections_to(app.server_pid(), database_port()).contains(&old) {
        assert!(
            cut_at.elapsed() < IDLE_CLOSE_BOUND,
            "the black-holed idle connection {old:?} is still open {:?} after the cut: \
             keepalives did not find it dead",
            cut_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // So a write, which could not be run again had it been sent on the
    // dead connection, goes to a new one and succeeds.
    let patched = answered_by(
        Instant::now() + MARGIN,
        "a PATCH after the idle connection was closed",
        app.patch_task(&user.token, &task_id, &json!({"title": "after"}), None),
    )
    .await;
    let body = expect_json(patched, StatusCode::OK).await;
    assert_eq!(body["title"], "after", "{body}");
    assert_replaced(&app, old, &hole).await;
}
