//! Password reset and email verification over HTTP: statuses, bodies and
//! what reaches the use case, with the store mocked.

use std::sync::{Arc, Mutex};

use adapter_http::{router, HttpSettings};
use application::opaque_token::OpaqueToken;
use application::ports::{
    MockAccountTokenStore, MockClock, MockOutboxWaker, MockPasswordHasher, MockSecretSource,
    RepoError, ResendOutcome,
};
use application::testkit;
use application::use_cases::RecoveryService;
use axum::body::Body;
use axum::http::Request;
use axum::Router;
use domain::{ClientInfo, PasswordHash, UserAgent};
use serde_json::json;

use crate::support::*;

fn router_over(store: MockAccountTokenStore, hasher: MockPasswordHasher) -> Router {
    let mut services = testkit::Harness::new().accepting_token().services();
    let mut secrets = MockSecretSource::new();
    secrets.expect_token_bytes().returning(|| Ok([5; 32]));
    let mut waker = MockOutboxWaker::new();
    waker.expect_wake().return_const(());
    let mut clock = MockClock::new();
    clock.expect_now().return_const(t0());
    services.recovery = Arc::new(RecoveryService::new(
        Arc::new(store),
        Arc::new(hasher),
        Arc::new(secrets),
        Arc::new(clock),
        Arc::new(waker),
    ));
    router(services, HttpSettings::default())
}

fn post(uri: &str, body: serde_json::Value) -> Request<Body> {
    json_request(
        Request::builder()
            .method("POST")
            .uri(uri)
            .header("user-agent", "ua-test/1.0"),
        body.to_string(),
    )
}

fn token() -> String {
    OpaqueToken::from_bytes(&[8; 32]).expose().to_owned()
}

#[tokio::test]
async fn a_reset_request_answers_the_same_202_whether_or_not_mail_was_queued() {
    let mut bodies = Vec::new();
    for queued in [true, false] {
        let seen: Arc<Mutex<Option<ClientInfo>>> = Arc::default();
        let keep = seen.clone();
        let mut store = MockAccountTokenStore::new();
        store
            .expect_request_password_reset()
            .times(1)
            .returning(move |_, _, _, context| {
                *keep.lock().unwrap() = Some(context.clone());
                Ok(queued)
            });
        let answer = send(
            router_over(store, MockPasswordHasher::new()),
            post(
                "/api/v1/auth/password-reset",
                json!({"email": "ada@example.com"}),
            ),
        )
        .await;
        assert_eq!(answer.status, 202);
        assert_eq!(answer.content_type(), "application/json; charset=utf-8");
        bodies.push(answer.body.clone());
        let context = seen.lock().unwrap().clone().unwrap();
        assert_eq!(
            context.user_agent.as_ref().map(UserAgent::as_str),
            Some("ua-test/1.0")
        );
    }
    assert_eq!(bodies[0], bodies[1]);
    assert_eq!(bodies[0], json!({"status": "accepted"}).to_string());
}

#[tokio::test]
async fn a_reset_request_without_a_valid_email_is_a_422_problem() {
    let router = router_over(MockAccountTokenStore::new(), MockPasswordHasher::new());
    for body in [
        json!({}),
        json!({"email": "not an email"}),
        json!({"email": null}),
    ] {
        let answer = send(router.clone(), post("/api/v1/auth/password-reset", body)).await;
        let problem = answer.problem(422);
        assert_eq!(error_fields(&problem), ["email"]);
    }
}

#[tokio::test]
async fn confirming_answers_204_400_or_422() {
    let mut hasher = MockPasswordHasher::new();
    hasher
        .expect_hash()
        .returning(|_| Ok(PasswordHash::new("$argon2id$new".into())));
    let mut store = MockAccountTokenStore::new();
    let good = OpaqueToken::parse(&token()).unwrap().digest();
    store
        .expect_confirm_password_reset()
        .returning(move |digest, _, _, _| Ok(*digest == good));
    let router = router_over(store, hasher);
    let uri = "/api/v1/auth/password-reset/confirm";

    let done = send(
        router.clone(),
        post(
            uri,
            json!({"token": token(), "new_password": "a new passphrase"}),
        ),
    )
    .await;
    assert_eq!(done.status, 204);
    assert!(done.body.is_empty());

    let unknown = OpaqueToken::from_bytes(&[9; 32]).expose().to_owned();
    for bad in [unknown.as_str(), "garbage"] {
        let answer = send(
            router.clone(),
            post(
                uri,
                json!({"token": bad, "new_password": "a new passphrase"}),
            ),
        )
        .await;
        let problem = answer.problem(400);
        assert!(
            problem["detail"].as_str().unwrap().contains("token"),
            "{problem}"
        );
    }

    let weak = send(
        router.clone(),
        post(uri, json!({"token": token(), "new_password": "short"})),
    )
    .await;
    assert_eq!(error_fields(&weak.problem(422)), ["new_password"]);
    let empty = send(router, post(uri, json!({}))).await;
    assert_eq!(error_fields(&empty.problem(422)), ["token", "new_password"]);
}

#[tokio::test]
async fn verifying_answers_204_or_400() {
    let mut store = MockAccountTokenStore::new();
    let good = OpaqueToken::parse(&token()).unwrap().digest();
    store
        .expect_verify_email()
        .returning(move |digest, _, _| Ok(*digest == good));
    let router = router_over(store, MockPasswordHasher::new());
    let ok = send(
        router.clone(),
        post("/api/v1/auth/verify-email", json!({"token": token()})),
    )
    .await;
    assert_eq!(ok.status, 204);
    let bad = send(
        router,
        post("/api/v1/auth/verify-email", json!({"token": "nope"})),
    )
    .await;
    bad.problem(400);
}

#[tokio::test]
async fn resend_needs_a_token_and_answers_202_whatever_it_did() {
    for outcome in [
        ResendOutcome::Queued,
        ResendOutcome::AlreadyVerified,
        ResendOutcome::Limited,
    ] {
        let mut store = MockAccountTokenStore::new();
        store
            .expect_resend_verification()
            .returning(move |_, _, _| Ok(outcome));
        let answer = send(
            router_over(store, MockPasswordHasher::new()),
            empty(authed("POST", "/api/v1/auth/verify-email/resend")),
        )
        .await;
        assert_eq!(answer.json_with_status(202), json!({"status": "accepted"}));
    }
    let anonymous = send(
        router_over(MockAccountTokenStore::new(), MockPasswordHasher::new()),
        empty(
            Request::builder()
                .method("POST")
                .uri("/api/v1/auth/verify-email/resend"),
        ),
    )
    .await;
    anonymous.problem(401);
    let mut store = MockAccountTokenStore::new();
    store
        .expect_resend_verification()
        .returning(|_, _, _| Err(RepoError::SessionInactive));
    let revoked = send(
        router_over(store, MockPasswordHasher::new()),
        empty(authed("POST", "/api/v1/auth/verify-email/resend")),
    )
    .await;
    revoked.problem(401);
}
