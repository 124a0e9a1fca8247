//! Overload: 1000 concurrent clients against a pool of 15 connections.
//!
//! Every request must be answered — 2xx, or 503 with `Retry-After` when no
//! connection frees up within the pool's wait bound — with no connection
//! error, no crash, a bounded peak memory (`VmHWM` of the server process),
//! and normal service right afterwards. The figures are printed (run with
//! `--nocapture`) so they can be quoted.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use e2e_tests::api::expect_json;
use e2e_tests::process_stats::{is_alive, open_files_limit, peak_rss_kib, reset_peak_rss, rss_kib};
use e2e_tests::{TestApp, TestUser};
use reqwest::header::RETRY_AFTER;
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::sync::Barrier;

/// Concurrent clients, each with its own connection to the server.
const CLIENTS: usize = 1_000;
/// The server's connection pool.
const POOL_SIZE: usize = 15;
/// Users the clients share (logins are deliberately slow: Argon2).
const USERS: usize = 10;
/// A request not answered within this long counts as unanswered.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);
/// The whole load must be over within this long.
const LOAD_LIMIT: Duration = Duration::from_secs(45);
/// How much the server's peak resident memory may exceed its resident
/// memory just before the load: generous, to catch growth per request
/// (1000 connections measured about 30 MiB) rather than to measure.
const LOAD_GROWTH_LIMIT_KIB: u64 = 100 * 1024;
/// Peak resident memory allowed to the server under the load: generous,
/// to catch runaway growth (about 80 MiB measured with mimalloc; 170 to
/// 330 MiB with glibc's allocator, which kept each 19 MiB Argon2 block).
const PEAK_RSS_LIMIT_KIB: u64 = 200 * 1024;

/// What one request got.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Success(u16),
    Unavailable { retry_after: bool },
    OtherStatus(u16),
    TimedOut,
    Transport(String),
}

impl Outcome {
    fn acceptable(&self) -> bool {
        matches!(
            self,
            Outcome::Success(_) | Outcome::Unavailable { retry_after: true }
        )
    }
}

/// One client: list, create, list, each bounded by [`CLIENT_TIMEOUT`].
async fn client(
    http: reqwest::Client,
    base: String,
    user: TestUser,
    n: usize,
    start: Arc<Barrier>,
) -> Vec<Outcome> {
    start.wait().await;
    let list = || {
        http.request(Method::GET, format!("{base}/api/v1/tasks"))
            .bearer_auth(&user.token)
    };
    let create = http
        .request(Method::POST, format!("{base}/api/v1/tasks"))
        .bearer_auth(&user.token)
        .json(&json!({"title": format!("overload {n}")}));
    let mut outcomes = Vec::with_capacity(3);
    for request in [list(), create, list()] {
        outcomes.push(send(request).await);
    }
    outcomes
}

async fn send(request: reqwest::RequestBuilder) -> Outcome {
    match tokio::time::timeout(CLIENT_TIMEOUT, request.send()).await {
        Err(_) => Outcome::TimedOut,
        Ok(Err(e)) => Outcome::Transport(e.to_string()),
        Ok(Ok(response)) => {
            let status = response.status();
            let retry_after = response.headers().contains_key(RETRY_AFTER);
            // The body is read so the connection is free for the next request.
            if let Err(e) = response.bytes().await {
                return Outcome::Transport(format!("reading the body: {e}"));
            }
            if status.is_success() {
                Outcome::Success(status.as_u16())
            } else if status == StatusCode::SERVICE_UNAVAILABLE {
                Outcome::Unavailable { retry_after }
            } else {
                Outcome::OtherStatus(status.as_u16())
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_clients_against_a_pool_of_15_are_all_answered() {
    e2e_tests::needs_own_server!("sets the pool size and watches the server process");
    let fd_limit = open_files_limit().unwrap_or(0);
    assert!(
        fd_limit >= 4 * CLIENTS as u64,
        "the open-file limit is {fd_limit}; {CLIENTS} clients need a socket each in this process \
         and in the server: raise it (ulimit -n 8192) before running this test"
    );
    let app = TestApp::builder()
        .env("APP__DATABASE__MAX_SIZE", POOL_SIZE.to_string())
        .spawn()
        .await;
    let pid = app.server_pid();
    let rss_at_start = rss_kib(pid).unwrap_or(0);
    let mut users = Vec::with_capacity(USERS);
    for _ in 0..USERS {
        users.push(app.new_user().await);
    }
    let signup_peak = peak_rss_kib(pid).unwrap_or(0);
    // From here on VmHWM is the peak under the load alone.
    assert!(reset_peak_rss(pid), "cannot reset the server's VmHWM");
    let rss_before = rss_kib(pid).unwrap_or(0);

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS)
        .build()
        .expect("the HTTP client builds");
    let start = Arc::new(Barrier::new(CLIENTS));
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| {
            tokio::spawn(client(
                http.clone(),
                app.address().to_owned(),
                users[n % USERS].clone(),
                n,
                Arc::clone(&start),
            ))
        })
        .collect();
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(3 * CLIENTS);
    let all = async {
        for handle in clients {
            outcomes.extend(handle.await.expect("a client panicked"));
        }
    };
    tokio::time::timeout(LOAD_LIMIT, all)
        .await
        .unwrap_or_else(|_| panic!("the load did not finish within {LOAD_LIMIT:?}"));
    let took = started.elapsed();

    let alive = is_alive(pid);
    let peak = peak_rss_kib(pid).unwrap_or(u64::MAX);
    let mut counts: BTreeMap<&Outcome, usize> = BTreeMap::new();
    for outcome in &outcomes {
        *counts.entry(outcome).or_default() += 1;
    }
    let after_started = Instant::now();
    let after =
        tokio::time::timeout(Duration::from_secs(5), app.list_tasks(&users[0].token, &[])).await;
    let after_took = after_started.elapsed();
    println!(
        "overload: {CLIENTS} concurrent clients, pool {POOL_SIZE}: {} requests in {took:?} \
         ({:.0}/s); outcomes {counts:?}; server RSS {rss_at_start} KiB at start, peak {signup_peak} KiB during {USERS} sign-ups, \
         {} KiB before the load, peak (VmHWM) {peak} KiB under the load; \
         first request afterwards answered in {after_took:?}",
        outcomes.len(),
        outcomes.len() as f64 / took.as_secs_f64(),
        rss_before,
    );

    assert!(alive, "the server process died under the load");
    let bad: Vec<_> = counts
        .iter()
        .filter(|(outcome, _)| !outcome.acceptable())
        .collect();
    assert!(
        bad.is_empty(),
        "every request is answered 2xx or 503 with Retry-After; these were not: {bad:?}"
    );
    assert_eq!(outcomes.len(), 3 * CLIENTS, "every request was made");
    assert!(
        peak.saturating_sub(rss_before) < LOAD_GROWTH_LIMIT_KIB,
        "the load grew the server from {rss_before} KiB to a peak of {peak} KiB \
         (growth limit {LOAD_GROWTH_LIMIT_KIB} KiB)"
    );
    assert!(
        peak < PEAK_RSS_LIMIT_KIB,
        "the server's peak RSS was {peak} KiB (limit {PEAK_RSS_LIMIT_KIB} KiB)"
    );
    let after = after.expect("a request right after the load is answered within 5 s");
    expect_json(after, StatusCode::OK).await;
    let created = app
        .new_task(&users[0], &json!({"title": "after the storm"}))
        .await;
    expect_json(
        app.get_task(&users[0].token, &created.id.to_string()).await,
        StatusCode::OK,
    )
    .await;
    expect_json(
        app.request(Method::GET, "/healthz")
            .send()
            .await
            .expect("healthz answers"),
        StatusCode::OK,
    )
    .await;
}
