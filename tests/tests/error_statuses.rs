//! Every status of the contract's error table (but 503, which the fault
//! tests cover), plus 400, 413, 415 and 422, each as problem+json.

use chrono::Utc;
use e2e_tests::api::{expect_json, expect_problem, expect_unauthorized};
use e2e_tests::{tokens, TestApp};
use reqwest::header::RETRY_AFTER;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

const JSON: &str = "application/json";

/// Checks a 422 problem whose `errors` name `field` (each error with a
/// message) and returns the problem body.
async fn expect_field_error(response: Response, field: &str) -> Value {
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let errors = problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("a 422 lists its field errors in `errors`: {problem}"));
    for error in errors {
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "each field error has a message: {problem}"
        );
    }
    assert!(
        errors.iter().any(|error| error["field"] == field),
        "the 422 names `{field}`: {problem}"
    );
    problem
}

// ---- 401 ----

#[tokio::test]
async fn a_request_without_a_token_is_401_with_a_bearer_challenge() {
    let app = TestApp::spawn().await;

    let response = app.get_with_authorization("/api/v1/tasks", None).await;

    expect_unauthorized(response, "no token").await;
}

#[tokio::test]
async fn a_malformed_token_is_401() {
    let app = TestApp::spawn().await;

    expect_unauthorized(
        app.list_tasks("not-a-jwt", &[]).await,
        "app.list_tasks(\"not-a-jwt\", &[])",
    )
    .await;
    expect_unauthorized(app.me("a.b.c").await, "app.me(\"a.b.c\")").await;
    let basic = Some("Basic dXNlcjpwYXNz");
    let response = app.get_with_authorization("/api/v1/auth/me", basic).await;
    expect_unauthorized(response, "Basic credentials").await;
}

#[tokio::test]
async fn a_tampered_token_is_401() {
    let (app, [victim, attacker]) = TestApp::with_users().await;

    let forged = tokens::tampered(&attacker.token, |claims| {
        claims["sub"] = json!(victim.id.to_string());
    });

    expect_unauthorized(app.me(&forged).await, "app.me(&forged)").await;
    expect_unauthorized(
        app.list_tasks(&forged, &[]).await,
        "app.list_tasks(&forged, &[])",
    )
    .await;
}

#[tokio::test]
async fn a_token_with_alg_none_is_401() {
    let (app, user) = TestApp::with_user().await;

    expect_unauthorized(
        app.me(&tokens::unsigned(&user.token)).await,
        "app.me(&tokens::unsigned(&user.token))",
    )
    .await;
}

#[tokio::test]
async fn an_expired_token_is_401() {
    e2e_tests::needs_jwt_secret!();
    let (app, user) = TestApp::with_user().await;
    let claims = tokens::claims(&user.token);
    // Re-signing the unchanged claims with the server's secret must work,
    // or the expired case below would prove nothing.
    let resigned = tokens::signed(&claims, app.jwt_secret());
    expect_json(app.me(&resigned).await, StatusCode::OK).await;

    let mut expired = claims.clone();
    let an_hour_ago = Utc::now().timestamp() - 3600;
    expired["iat"] = json!(an_hour_ago - 60);
    expired["exp"] = json!(an_hour_ago);
    let expired = tokens::signed(&expired, app.jwt_secret());

    expect_unauthorized(app.me(&expired).await, "app.me(&expired)").await;
}

#[tokio::test]
async fn a_token_signed_with_another_secret_is_401() {
    let (app, user) = TestApp::with_user().await;

    let foreign = tokens::signed(
        &tokens::claims(&user.token),
        "another-secret-that-is-long-enough-for-hs256",
    );

    expect_unauthorized(app.me(&foreign).await, "app.me(&foreign)").await;
}

#[tokio::test]
async fn a_revoked_token_is_401() {
    let (app, user, task) = TestApp::with_task(json!({"title": "Mine"})).await;
    assert_eq!(
        app.logout(&user.token).await.status(),
        StatusCode::NO_CONTENT
    );

    expect_unauthorized(
        app.get_task(&user.token, &task.id.to_string()).await,
        "app.get_task(&user.token, &task.id.to_string())",
    )
    .await;
    expect_unauthorized(app.logout(&user.token).await, "app.logout(&user.token)").await;
}

// ---- 404 for another user's task ----

#[tokio::test]
async fn another_users_task_is_404_for_read_update_and_delete_and_stays_unchanged() {
    let (app, [owner, intruder]) = TestApp::with_users().await;
    let task = app
        .new_task(
            &owner,
            &json!({"title": "Private", "description": "secret plans"}),
        )
        .await;
    let id = task.id.to_string();
    let row_before = app.task_row(task.id).await;
    let unknown = Uuid::now_v7().to_string();
    let missing = app.get_task(&intruder.token, &unknown).await;
    let missing = expect_problem(missing, StatusCode::NOT_FOUND).await;

    let rename = json!({"title": "Mine now"});
    let complete = json!({"completed": true});
    let mut answers = Vec::new();
    for response in [
        app.get_task(&intruder.token, &id).await,
        app.patch_task(&intruder.token, &id, &rename, None).await,
        app.patch_task(&intruder.token, &id, &complete, Some(1))
            .await,
        app.delete_task(&intruder.token, &id).await,
    ] {
        answers.push(expect_problem(response, StatusCode::NOT_FOUND).await);
    }

    for answer in &answers {
        for field in ["type", "title", "status", "detail"] {
            assert_eq!(
                answer[field], missing[field],
                "another user's task answers exactly like a missing one ({field})"
            );
        }
        assert!(!answer.to_string().contains("secret plans"));
    }
    let row_after = app.task_row(task.id).await;
    assert_eq!(row_after, row_before);
    let listed = app.task_page(&intruder, &[]).await;
    assert!(
        listed.items.is_empty(),
        "the list shows the caller's tasks only"
    );
}

#[tokio::test]
async fn a_task_id_that_is_not_a_uuid_is_404_or_400_never_500() {
    let (app, user) = TestApp::with_user().await;

    for id in [
        "not-a-uuid",
        "12345",
        "00000000-0000-0000-0000-00000000000g",
    ] {
        let response = app.get_task(&user.token, id).await;
        let status = response.status();
        assert!(
            status == StatusCode::NOT_FOUND || status == StatusCode::BAD_REQUEST,
            "GET /api/v1/tasks/{id}: expected 404 or 400, got {status}"
        );
        expect_problem(response, status).await;
    }
}

// ---- 409 ----

#[tokio::test]
async fn registering_a_taken_email_is_409() {
    let (app, user) = TestApp::with_user().await;

    expect_problem(
        app.register(&user.email, "another-password").await,
        StatusCode::CONFLICT,
    )
    .await;
}

// ---- 412 ----

#[tokio::test]
async fn a_stale_if_match_is_412_and_the_row_keeps_the_newer_change() {
    let (app, user, task) = TestApp::with_task(json!({"title": "v1"})).await;
    let id = task.id.to_string();
    let v2 = app
        .patched(&user, &id, &json!({"title": "v2"}), Some(1))
        .await;
    assert_eq!(v2["version"], 2);

    expect_problem(
        app.patch_task(&user.token, &id, &json!({"title": "lost update"}), Some(1))
            .await,
        StatusCode::PRECONDITION_FAILED,
    )
    .await;

    let row = app.task_row(task.id).await;
    assert_eq!(row.title, "v2");
    assert_eq!(row.version, 2);
}

// ---- 422 ----

#[tokio::test]
async fn an_invalid_task_is_422_with_field_errors() {
    let (app, user) = TestApp::with_user().await;

    for (body, field) in [
        (json!({"title": "   "}), "title"),
        (json!({"title": "x".repeat(201)}), "title"),
        (
            json!({"title": "ok", "description": "d".repeat(5001)}),
            "description",
        ),
    ] {
        expect_field_error(app.create_task(&user.token, &body).await, field).await;
    }
    assert!(app.db().await.tasks_of(user.id).await.is_empty());
}

#[tokio::test]
async fn an_invalid_patch_is_422_and_changes_nothing() {
    let (app, user, task) = TestApp::with_task(json!({"title": "Keep me"})).await;
    let id = task.id.to_string();

    let blank = json!({"title": ""});
    let response = app.patch_task(&user.token, &id, &blank, None).await;
    expect_field_error(response, "title").await;

    let row = app.task_row(task.id).await;
    assert_eq!(row.title, "Keep me");
    assert_eq!(row.version, 1);
}

#[tokio::test]
async fn an_invalid_registration_is_422_with_field_errors() {
    let app = TestApp::spawn().await;

    let bad_email = app.register("not-an-email", "long-enough-password");
    expect_field_error(bad_email.await, "email").await;
    let email = e2e_tests::unique_email();
    let short_password = app.register(&email, "short").await;
    let short_password = expect_field_error(short_password, "password").await;
    assert!(!short_password.to_string().contains("\"short\""));
}

// ---- 400, 415, 413 ----

#[tokio::test]
async fn malformed_json_is_400() {
    let (app, user) = TestApp::with_user().await;

    let cut_short = app.post_task_raw(&user, JSON, "{\"title\": ").await;
    expect_problem(cut_short, StatusCode::BAD_REQUEST).await;
    let login = "/api/v1/auth/login";
    let not_json = app
        .post_raw(login, None, Some(JSON), "not json at all")
        .await;
    expect_problem(not_json, StatusCode::BAD_REQUEST).await;
    assert!(app.db().await.tasks_of(user.id).await.is_empty());
}

#[tokio::test]
async fn a_body_that_is_not_declared_as_json_is_415() {
    let (app, user) = TestApp::with_user().await;

    let plain = app.post_task_raw(&user, "text/plain", "{\"title\": \"plain\"}");
    expect_problem(plain.await, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    assert!(app.db().await.tasks_of(user.id).await.is_empty());
}

#[tokio::test]
async fn a_body_over_64_kib_is_413() {
    let (app, user) = TestApp::with_user().await;
    let body = json!({"title": "big", "description": "x".repeat(70 * 1024)}).to_string();
    assert!(body.len() > 64 * 1024);

    let response = app.post_task_raw(&user, JSON, body).await;
    expect_problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert!(app.db().await.tasks_of(user.id).await.is_empty());
}

// ---- 429 ----

#[tokio::test]
async fn too_many_failed_logins_for_one_email_is_429_with_retry_after() {
    e2e_tests::needs_own_server!("lowers the failed-login limit of the server");
    let app = TestApp::builder()
        .env("APP__AUTH__LOGIN_MAX_FAILURES_PER_EMAIL", "3")
        .spawn()
        .await;
    let user = app.new_user().await;
    for attempt in 1..=3 {
        let response = app
            .login(&user.email, &format!("wrong-password-{attempt}"))
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "failed login {attempt} of 3 is still a plain 401"
        );
    }

    let limited = app.login(&user.email, "wrong-password-4").await;

    let retry_after = limited
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    expect_problem(limited, StatusCode::TOO_MANY_REQUESTS).await;
    let seconds: u64 = retry_after
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("429 carries Retry-After in seconds, got {retry_after:?}"));
    assert!(seconds >= 1);
    // The limit is per email: another account from the same client is not
    // limited yet.
    let other = app.new_user().await;
    assert_eq!(
        app.login(&other.email, "wrong-password").await.status(),
        StatusCode::UNAUTHORIZED
    );
}
