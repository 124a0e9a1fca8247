//! The password-hashing queue is bounded: a burst of logins past it is
//! answered 503 with `Retry-After` at once instead of queueing, the service
//! keeps answering, and a login refused that way is not counted as a failed
//! guess by the limiter.

use e2e_tests::api::{expect_json, unique_email};
use e2e_tests::assertions::tally_login_burst;
use e2e_tests::TestApp;
use reqwest::StatusCode;

#[tokio::test]
async fn a_burst_past_the_hashing_queue_gets_503_with_retry_after_and_is_not_counted() {
    // No waiting room: only the hashes running (one per CPU) are admitted.
    let app = TestApp::builder()
        .env("APP__AUTH__HASH_QUEUE_PER_CPU", "0")
        .env("APP__AUTH__LOGIN_MAX_FAILURES_PER_EMAIL", "100")
        .env("APP__AUTH__LOGIN_MAX_FAILURES_PER_CLIENT", "40")
        .spawn()
        .await;
    let user = app.new_user().await;

    // 40 failed logins at once from one client: its whole allowance.
    let burst: Vec<_> = (0..40)
        .map(|_| {
            let api = app.api().clone();
            tokio::spawn(async move { api.login(&unique_email(), "wrong-password").await })
        })
        .collect();
    let (unauthorized, busy) = tally_login_burst(burst, StatusCode::SERVICE_UNAVAILABLE).await;
    for seconds in &busy {
        assert!(*seconds >= 1);
    }
    let busy = busy.len();
    assert!(busy > 0, "a burst past the queue is refused, not queued");
    assert_eq!(unauthorized + busy, 40);

    // Still answering, and the refused logins handed their slots back: the
    // 40 reservations filled the client's allowance, so without that its
    // next login would be 429 whatever the password.
    let health = app
        .request(reqwest::Method::GET, "/healthz")
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    expect_json(app.login(&user.email, &user.password).await, StatusCode::OK).await;
}
