//! Login issues a JWT naming a stored session; logout revokes that session
//! and the token is refused from then on.

use chrono::{DateTime, Utc};
use e2e_tests::api::{expect_json, expect_problem};
use e2e_tests::tokens;
use e2e_tests::{unique_email, TestApp};
use reqwest::header::WWW_AUTHENTICATE;
use reqwest::StatusCode;
use uuid::Uuid;

fn session_id(token: &str) -> Uuid {
    let claims = tokens::claims(token);
    claims["sid"]
        .as_str()
        .and_then(|sid| Uuid::parse_str(sid).ok())
        .unwrap_or_else(|| panic!("the token names its session in `sid`: {claims}"))
}

#[tokio::test]
async fn login_issues_a_jwt_and_stores_a_session_row() {
    let (app, email, password) = TestApp::with_credentials().await;
    let user = app.registered(&email, &password).await;

    let login = expect_json(app.login(&email, &password).await, StatusCode::OK).await;

    let token = login["access_token"].as_str().expect("access_token");
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts: {token}");
    assert!(parts.iter().all(|part| !part.is_empty()), "{token}");
    assert_eq!(login["token_type"], "Bearer");
    assert_eq!(login["user"]["id"], user["id"]);
    assert_eq!(tokens::header(token)["alg"], "HS256");
    let claims = tokens::claims(token);
    assert_eq!(claims["sub"], user["id"], "sub is the user id: {claims}");
    for claim in ["iat", "exp", "iss", "aud"] {
        assert!(
            !claims[claim].is_null(),
            "the token has `{claim}`: {claims}"
        );
    }

    let user_id = Uuid::parse_str(user["id"].as_str().unwrap()).unwrap();
    let sessions = app.db().await.sessions_of(user_id).await;
    assert_eq!(sessions.len(), 1, "one login, one session row");
    let session = &sessions[0];
    assert_eq!(session.id, session_id(token));
    assert_eq!(session.revoked_at, None);
    assert!(session.expires_at > session.created_at);
    let instant = |field: &str| -> DateTime<Utc> {
        login[field]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| panic!("{field} is RFC 3339: {login}"))
    };
    // The session lives as long as its refresh token; the access token is
    // short (auth.access_ttl_secs, 900 by default).
    let refresh_expires_at = instant("refresh_expires_at");
    assert!(
        (refresh_expires_at - session.expires_at)
            .num_seconds()
            .abs()
            <= 1
    );
    let expires_at = instant("expires_at");
    assert!(expires_at > Utc::now());
    assert!(expires_at <= session.created_at + chrono::Duration::seconds(900));
    assert!(expires_at < refresh_expires_at);
    let refresh_token = login["refresh_token"].as_str().expect("refresh_token");
    assert!(
        refresh_token.len() >= 43,
        "256 bits in base64url: {refresh_token}"
    );
    assert_eq!(claims["exp"].as_i64(), Some(expires_at.timestamp()));
}

#[tokio::test]
async fn every_login_stores_its_own_session() {
    let (app, user) = TestApp::with_user().await;

    let second = app.login_token(&user.email, &user.password).await;

    let sessions = app.db().await.sessions_of(user.id).await;
    assert_eq!(sessions.len(), 2);
    let second_sid = session_id(&second);
    assert_ne!(second_sid, session_id(&user.token));
    assert!(sessions.iter().any(|s| s.id == second_sid));
}

#[tokio::test]
async fn me_answers_the_logged_in_user() {
    let (app, user) = TestApp::with_user().await;

    let me = expect_json(app.me(&user.token).await, StatusCode::OK).await;

    assert_eq!(me["id"], user.id.to_string());
    assert_eq!(
        me["email"].as_str().map(str::to_lowercase),
        Some(user.email.to_lowercase())
    );
    assert!(me.get("password_hash").is_none(), "{me}");
}

#[tokio::test]
async fn logout_revokes_the_session_and_the_token_is_refused_afterwards() {
    let (app, user) = TestApp::with_user().await;
    let sid = session_id(&user.token);

    let response = app.logout(&user.token).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    // Another test's login may already have purged the revoked row.
    if let Some(session) = app.db().await.session(sid).await {
        assert!(session.revoked_at.is_some(), "logout sets revoked_at");
    }
    let refused = app.me(&user.token).await;
    assert_eq!(
        refused
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
    expect_problem(refused, StatusCode::UNAUTHORIZED).await;
    expect_problem(
        app.list_tasks(&user.token, &[]).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn logout_leaves_the_users_other_sessions_working() {
    let (app, user) = TestApp::with_user().await;
    let other_token = app.login_token(&user.email, &user.password).await;

    assert_eq!(
        app.logout(&user.token).await.status(),
        StatusCode::NO_CONTENT
    );

    expect_json(app.me(&other_token).await, StatusCode::OK).await;
}

#[tokio::test]
async fn unknown_email_and_wrong_password_get_the_same_401() {
    let (app, user) = TestApp::with_user().await;

    let wrong_password = app.login(&user.email, "not-the-password").await;
    let unknown_email = app.login(&unique_email(), "not-the-password").await;

    let wrong_password = expect_problem(wrong_password, StatusCode::UNAUTHORIZED).await;
    let unknown_email = expect_problem(unknown_email, StatusCode::UNAUTHORIZED).await;
    for field in ["type", "title", "status", "detail"] {
        assert_eq!(
            wrong_password[field], unknown_email[field],
            "`{field}` differs"
        );
    }
}
