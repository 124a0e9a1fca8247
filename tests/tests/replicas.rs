//! Scale-out: three `todo-server` replicas on one database behind HAProxy
//! (Debian's package, started by the test on a free port). The failed-login
//! limit holds across them as one, a logout through one is refused by the
//! others at once, and killing one mid-load loses no acknowledged write.

use std::time::Duration;

use e2e_tests::api::expect_json;
use e2e_tests::assertions::tally_login_burst;
use e2e_tests::replicas::Replicas;
use e2e_tests::write_load::WriteLoad;
use reqwest::{Method, StatusCode};
use serde_json::json;

/// Login requests each replica answered, from its own `/metrics`.
async fn logins_answered(app: &e2e_tests::TestApp) -> u64 {
    let text = app
        .request(Method::GET, "/metrics")
        .send()
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .filter(|l| l.starts_with("http_requests_total") && l.contains("/api/v1/auth/login"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[tokio::test]
async fn a_burst_of_failed_logins_spread_over_three_replicas_is_limited_as_one() {
    let replicas = Replicas::start(
        3,
        &[
            ("APP__AUTH__LOGIN_MAX_FAILURES_PER_EMAIL", "5"),
            ("APP__AUTH__LOGIN_MAX_FAILURES_PER_CLIENT", "1000"),
            ("APP__AUTH__LOGIN_WINDOW_SECS", "600"),
        ],
    )
    .await;
    let user = replicas.api.new_user().await;

    let burst: Vec<_> = (0..30)
        .map(|_| {
            let api = replicas.api.clone();
            let email = user.email.clone();
            tokio::spawn(async move { api.login(&email, "wrong-password").await })
        })
        .collect();
    let (unauthorized, limited) = tally_login_burst(burst, StatusCode::TOO_MANY_REQUESTS).await;
    for seconds in &limited {
        // At most the window, rounded up: a request that read the clock
        // just before a concurrent one's attempt was counted waits that
        // attempt's window plus a few milliseconds.
        assert!((1..=601).contains(seconds), "Retry-After {seconds}");
    }
    assert_eq!(unauthorized, 5, "exactly the limit in 401s across replicas");
    assert_eq!(limited.len(), 25);
    for (i, app) in replicas.apps.iter().enumerate() {
        assert!(
            logins_answered(app).await >= 5,
            "replica {i} took its share of the burst"
        );
    }
    // Blocked on every replica, even with the right password.
    for _ in 0..3 {
        let answer = replicas.api.login(&user.email, &user.password).await;
        assert_eq!(answer.status(), StatusCode::TOO_MANY_REQUESTS);
    }
}

#[tokio::test]
async fn a_logout_through_one_replica_is_refused_by_the_others_at_once() {
    let replicas = Replicas::start(3, &[]).await;
    let user = replicas.apps[0].new_user().await;
    for app in &replicas.apps {
        expect_json(app.me(&user.token).await, StatusCode::OK).await;
    }

    let answer = replicas.apps[1].logout(&user.token).await;
    assert_eq!(answer.status(), StatusCode::NO_CONTENT);

    for (i, app) in replicas.apps.iter().enumerate() {
        assert_eq!(
            app.me(&user.token).await.status(),
            StatusCode::UNAUTHORIZED,
            "replica {i} still accepts the logged-out token"
        );
        let create = app
            .create_task(&user.token, &json!({"title": "after logout"}))
            .await;
        assert_eq!(create.status(), StatusCode::UNAUTHORIZED, "replica {i}");
    }
}

#[tokio::test]
async fn killing_one_replica_mid_write_load_loses_no_acknowledged_write() {
    let mut replicas = Replicas::start(3, &[]).await;
    let user = replicas.api.new_user().await;
    let load = WriteLoad::start(&replicas.api, &user, 6, Duration::from_secs(10));
    // Let writes land on every replica, then kill one without warning.
    wait_for_tasks(&replicas, &user, 30).await;
    replicas.apps[1].kill().await;
    let before = count_tasks(&replicas, &user).await;
    wait_for_tasks(&replicas, &user, before + 30).await;
    let report = load.finish().await;
    eprintln!("{}", report.summary());

    let rows = replicas.apps[0].db().await.task_keys_of(user.id).await;
    assert!(report.unfinished.is_empty(), "{:?}", report.unfinished);
    report.assert_rows_match(&rows);
    assert!(report.acknowledged().len() >= before as usize + 30);
}

async fn count_tasks(replicas: &Replicas, user: &e2e_tests::TestUser) -> i64 {
    replicas.apps[0].db().await.tasks_of(user.id).await.len() as i64
}

/// Polls the rows until the user has `n` tasks (the load keeps writing).
async fn wait_for_tasks(replicas: &Replicas, user: &e2e_tests::TestUser, n: i64) {
    for _ in 0..600 {
        if count_tasks(replicas, user).await >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the write load did not reach {n} tasks");
}
