//! Registration persists the user, stores the password only as an Argon2id
//! PHC string, and treats emails case-insensitively.

use chrono::{DateTime, Utc};
use e2e_tests::api::{expect_json, expect_problem, unique_password};
use e2e_tests::TestApp;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn registering_stores_the_user_with_an_argon2id_hash_and_timestamps() {
    let (app, email, password) = TestApp::with_credentials().await;

    let user = expect_json(
        app.register_json(&json!({"email": email, "password": password, "name": "Ada"}))
            .await,
        StatusCode::CREATED,
    )
    .await;

    let row = app
        .db()
        .await
        .user_by_email(&email)
        .await
        .expect("the user row exists right after 201");
    assert_eq!(user["id"].as_str(), Some(row.id.to_string().as_str()));
    assert_eq!(row.email.to_lowercase(), email.to_lowercase());
    assert_eq!(row.name.as_deref(), Some("Ada"));
    assert_eq!(user["name"], "Ada");
    assert_eq!(
        user["email_verified"], false,
        "a new address is unverified: {user}"
    );
    assert!(
        row.password_hash.starts_with("$argon2id$"),
        "password_hash must be an Argon2id PHC string, got prefix {:?}",
        row.password_hash.get(..12)
    );
    assert!(
        row.password_hash.contains("m=19456,t=2,p=1"),
        "Argon2id parameters must be m=19456,t=2,p=1: {}",
        row.password_hash
    );
    assert!(!row.password_hash.contains(&password));
    let created_at: DateTime<Utc> = user["created_at"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("created_at is RFC 3339: {user}"));
    assert!(
        user["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "timestamps are UTC with a Z: {user}"
    );
    assert!((created_at - row.created_at).num_seconds().abs() < 1);
    assert!(row.updated_at >= row.created_at);
}

#[tokio::test]
async fn the_register_answer_never_contains_the_password_or_its_hash() {
    let (app, email, password) = TestApp::with_credentials().await;

    let response = app.register(&email, &password).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let text = response.text().await.unwrap();

    assert!(!text.contains(&password), "{text}");
    assert!(!text.contains("argon2"), "{text}");
    assert!(!text.contains("password"), "{text}");
}

#[tokio::test]
async fn an_email_differing_only_in_case_is_already_registered() {
    let (app, lower, password) = TestApp::with_credentials().await;
    let upper = lower.to_uppercase();
    app.registered(&lower, &password).await;

    expect_problem(
        app.register(&upper, &unique_password()).await,
        StatusCode::CONFLICT,
    )
    .await;

    assert_eq!(app.db().await.users_with_email(&lower).await, 1);
}

#[tokio::test]
async fn login_works_with_the_email_in_another_case() {
    let (app, email, password) = TestApp::with_credentials().await;
    let user = app.registered(&email, &password).await;

    let login = expect_json(
        app.login(&email.to_uppercase(), &password).await,
        StatusCode::OK,
    )
    .await;

    assert_eq!(login["user"]["id"], user["id"]);
}

#[tokio::test]
async fn registering_the_same_email_twice_is_a_conflict_and_keeps_the_first_password() {
    let (app, email, first) = TestApp::with_credentials().await;
    app.registered(&email, &first).await;

    expect_problem(
        app.register(&email, &unique_password()).await,
        StatusCode::CONFLICT,
    )
    .await;

    expect_json(app.login(&email, &first).await, StatusCode::OK).await;
}
