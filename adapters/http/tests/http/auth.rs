//! Register, login, logout, me: statuses, bodies and headers.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use application::ports::{LimitError, MockLoginLimiter, RepoError};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use domain::PasswordHash;
use serde_json::json;

use crate::support::*;

fn post_json(uri: &str, body: serde_json::Value) -> Request<Body> {
    json_request(Request::builder().method("POST").uri(uri), body.to_string())
}

/// Posts `body` to `/api/v1/auth/{action}` through `h`'s router.
async fn post_auth(h: Harness, action: &str, body: serde_json::Value) -> Answer {
    send(
        h.router(),
        post_json(&format!("/api/v1/auth/{action}"), body),
    )
    .await
}

/// Makes the hasher hash every password to `hash`.
fn hashing_to(h: &mut Harness, hash: &'static str) {
    h.hasher
        .expect_hash()
        .returning(move |_| Ok(PasswordHash::new(hash.to_owned())));
}

#[tokio::test]
async fn register_answers_201_with_the_user_and_never_the_hash() {
    let mut h = Harness::new();
    hashing_to(&mut h, "$argon2id$secret-hash");
    h.users.expect_create().times(1).returning(|_| Ok(()));
    let answer = post_auth(
        h,
        "register",
        json!({"email": "Ada@Example.com", "password": "correct horse", "name": "Ada"}),
    )
    .await;
    assert_eq!(answer.status, 201);
    assert_eq!(answer.content_type(), "application/json; charset=utf-8");
    let body = answer.json();
    assert_eq!(body["email"], "ada@example.com");
    assert_eq!(body["name"], "Ada");
    assert_eq!(body["created_at"], "2030-01-01T12:00:00.000000Z");
    assert_eq!(body["email_verified"], false);
    assert!(body["id"].as_str().unwrap().parse::<uuid::Uuid>().is_ok());
    assert_eq!(body.as_object().unwrap().len(), 5, "{body}");
    assert!(!String::from_utf8_lossy(&answer.body).contains("argon2"));
}

#[tokio::test]
async fn register_without_a_name_answers_name_null() {
    let mut h = Harness::new();
    hashing_to(&mut h, "$argon2id$x");
    h.users.expect_create().returning(|_| Ok(()));
    let answer = post_auth(
        h,
        "register",
        json!({"email": "a@x.io", "password": "12345678"}),
    )
    .await;
    assert_eq!(answer.status, 201);
    assert_eq!(answer.json()["name"], serde_json::Value::Null);
}

#[tokio::test]
async fn register_with_a_taken_email_is_409() {
    let mut h = Harness::new();
    hashing_to(&mut h, "$argon2id$x");
    h.users
        .expect_create()
        .returning(|_| Err(RepoError::EmailTaken));
    let answer = post_auth(
        h,
        "register",
        json!({"email": "a@x.io", "password": "12345678"}),
    )
    .await;
    answer.problem(409);
}

#[tokio::test]
async fn register_reports_every_invalid_field_as_422_without_echoing_the_password() {
    let answer = send_fresh(post_json(
        "/api/v1/auth/register",
        json!({"email": "not-an-email", "password": "short7!", "name": "n".repeat(101)}),
    ))
    .await;
    let body = answer.problem(422);
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert!(e["message"].is_string());
            e["field"].as_str().unwrap()
        })
        .collect();
    assert_eq!(fields, ["email", "password", "name"]);
    assert!(!String::from_utf8_lossy(&answer.body).contains("short7!"));
}

#[tokio::test]
async fn register_with_missing_fields_is_422() {
    let answer = send_fresh(post_json("/api/v1/auth/register", json!({}))).await;
    let body = answer.problem(422);
    assert_eq!(body["errors"][0]["field"], "email");
    assert_eq!(body["errors"][1]["field"], "password");
}

#[tokio::test]
async fn login_answers_a_bearer_token_with_its_expiry_and_user() {
    let mut h = Harness::new();
    h.users
        .expect_find_by_email()
        .returning(|_| Ok(Some(user())));
    h.hasher.expect_verify().returning(|_, _| Ok(true));
    h.sessions
        .expect_create()
        .times(1)
        .returning(|_, _, _, _| Ok(()));
    h.tokens
        .expect_issue()
        .returning(|_, _, _| Ok("the.jwt.token".to_owned()));
    let answer = post_auth(
        h,
        "login",
        json!({"email": "ada@example.com", "password": "pw-123456"}),
    )
    .await;
    assert_eq!(answer.status, 200);
    let body = answer.json();
    assert_eq!(body["access_token"], "the.jwt.token");
    assert_eq!(body["token_type"], "Bearer");
    // A short access token; the refresh token lives as long as the session.
    assert_eq!(body["expires_at"], "2030-01-01T12:15:00.000000Z");
    assert_eq!(body["refresh_token"], application::testkit::REFRESH_TOKEN);
    assert_eq!(body["refresh_expires_at"], "2030-01-01T13:00:00.000000Z");
    assert_eq!(body["user"]["email"], "ada@example.com");
    assert_eq!(body["user"]["id"], user().id.to_string());
}

async fn failed_login(known_email: bool) -> Answer {
    let mut h = Harness::new();
    h.users
        .expect_find_by_email()
        .returning(move |_| Ok(known_email.then(user)));
    h.hasher
        .expect_dummy_hash()
        .returning(|| PasswordHash::new("$argon2id$dummy".to_owned()));
    h.hasher
        .expect_verify()
        .times(1)
        .returning(|_, _| Ok(false));
    post_auth(
        h,
        "login",
        json!({"email": "ada@example.com", "password": "wrong-password"}),
    )
    .await
}

#[tokio::test]
async fn unknown_email_and_wrong_password_get_the_same_401() {
    let unknown = failed_login(false).await;
    let wrong = failed_login(true).await;
    unknown.problem(401);
    wrong.problem(401);
    assert_eq!(unknown.body, wrong.body);
    assert_eq!(unknown.header("www-authenticate"), Some("Bearer"));
    assert_eq!(wrong.header("www-authenticate"), Some("Bearer"));
    assert!(!String::from_utf8_lossy(&wrong.body).contains("wrong-password"));
}

fn limiter_refusing(
    retry_after: Duration,
    seen: Arc<Mutex<Vec<Option<IpAddr>>>>,
) -> MockLoginLimiter {
    let mut limiter = MockLoginLimiter::new();
    limiter.expect_reserve().returning(move |_, client, _| {
        seen.lock().unwrap().push(client);
        Err(LimitError::Limited { retry_after })
    });
    limiter
}

#[tokio::test]
async fn too_many_failed_logins_is_429_with_retry_after_rounded_up() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut h = Harness::new();
    h.limiter = limiter_refusing(Duration::from_millis(1_200), seen);
    // The user lookup runs alongside the reservation.
    h.users.expect_find_by_email().returning(|_| Ok(None));
    let answer = post_auth(
        h,
        "login",
        json!({"email": "a@x.io", "password": "whatever1"}),
    )
    .await;
    answer.problem_with_header(429, "retry-after", "2");
}

async fn client_seen_by_limiter(trust_forwarded_for: bool) -> Option<IpAddr> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut h = Harness::new();
    h.limiter = limiter_refusing(Duration::ZERO, seen.clone());
    // The user lookup runs alongside the reservation.
    h.users.expect_find_by_email().returning(|_| Ok(None));
    h.settings.trust_forwarded_for = trust_forwarded_for;
    let mut request = Request::builder()
        .method("POST")
        .uri("/api/v1/auth/login")
        .header("content-type", "application/json")
        .header("x-forwarded-for", "203.0.113.9, 198.51.100.7")
        .body(Body::from(r#"{"email":"a@x.io","password":"whatever1"}"#))
        .unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([10, 0, 0, 5], 40_000))));
    let answer = send(h.router(), request).await;
    assert_eq!(answer.header("retry-after"), Some("1"));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    seen[0]
}

#[tokio::test]
async fn login_limit_uses_the_peer_address_unless_forwarded_for_is_trusted() {
    assert_eq!(
        client_seen_by_limiter(false).await,
        Some([10, 0, 0, 5].into())
    );
    assert_eq!(
        client_seen_by_limiter(true).await,
        Some([198, 51, 100, 7].into())
    );
}

#[tokio::test]
async fn me_answers_the_callers_user() {
    let mut h = Harness::new();
    h.sessions
        .expect_active_user()
        .withf(|p, _| *p == principal())
        .returning(|_, _| Ok(user()));
    let answer = h.get_authed("/api/v1/auth/me").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["email"], "ada@example.com");
}

#[tokio::test]
async fn every_kind_of_bad_credentials_is_401_with_www_authenticate() {
    let no_header = Request::builder()
        .uri("/api/v1/auth/me")
        .body(Body::empty())
        .unwrap();
    let wrong_scheme = Request::builder()
        .uri("/api/v1/auth/me")
        .header("authorization", format!("Basic {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    let bad_token = with_header(
        "/api/v1/auth/me",
        "authorization",
        "Bearer tampered.token.here",
    );
    let huge_token = Request::builder()
        .uri("/api/v1/auth/me")
        .header("authorization", format!("Bearer {}", "a".repeat(20_000)))
        .body(Body::empty())
        .unwrap();
    for request in [no_header, wrong_scheme, bad_token, huge_token] {
        let answer = send_fresh(request).await;
        answer.problem_with_header(401, "www-authenticate", "Bearer");
    }
}

#[tokio::test]
async fn a_revoked_session_is_401() {
    let mut h = Harness::new();
    h.sessions
        .expect_active_user()
        .returning(|_, _| Err(RepoError::SessionInactive));
    let answer = h.get_authed("/api/v1/auth/me").await;
    answer.problem_with_header(401, "www-authenticate", "Bearer");
}

#[tokio::test]
async fn logout_is_204_and_a_second_logout_is_401() {
    let mut h = Harness::new();
    let mut revoked = false;
    h.sessions
        .expect_revoke()
        .times(2)
        .returning(move |p, _, _, _| {
            assert_eq!(*p, principal());
            if revoked {
                Err(RepoError::SessionInactive)
            } else {
                revoked = true;
                Ok(1)
            }
        });
    let router = h.router();
    let first = send(router.clone(), empty(authed("POST", "/api/v1/auth/logout"))).await;
    assert_eq!(first.status, 204);
    assert!(first.body.is_empty());
    let second = send(router, empty(authed("POST", "/api/v1/auth/logout"))).await;
    second.problem(401);
    assert_eq!(second.header("www-authenticate"), Some("Bearer"));
}
