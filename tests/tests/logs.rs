//! Secrets never reach the logs: not the users' passwords, not the tokens,
//! not the JWT secret, not the database password, even at debug level.

use e2e_tests::accounts::{AccountApi, Pair};
use e2e_tests::api::expect_json;
use e2e_tests::assertions::assert_hides;
use e2e_tests::database::url_password;
use e2e_tests::{database_url, TestApp};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_whole_session_at_debug_level_logs_no_secret() {
    e2e_tests::needs_own_server!("reads the server's logs");
    let mut app = TestApp::builder().debug_logs().spawn().await;
    let user = app.new_user().await;
    let wrong_password = "wrong-password-that-must-not-be-logged";
    assert_eq!(
        app.login(&user.email, wrong_password).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let task = app.new_task(&user, &json!({"title": "Logged?"})).await;
    app.patched(&user, task.id, &json!({"completed": true}), Some(1))
        .await;
    assert_eq!(
        app.logout(&user.token).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.me(&user.token).await.status(), StatusCode::UNAUTHORIZED);
    // Refresh tokens, a replayed one, a password change.
    let pair = app.login_pair(&user.email, &user.password, "logs/1").await;
    let next = Pair::of(expect_json(app.refresh(&pair.refresh_token).await, StatusCode::OK).await);
    let new_password = "new-password-that-must-not-be-logged";
    assert_eq!(
        app.change_password(&next.access_token, &user.password, new_password)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.refresh(&pair.refresh_token).await.status(),
        StatusCode::UNAUTHORIZED
    );

    app.stop().await;

    let logs = app.logs();
    assert!(!logs.is_empty(), "at debug level the server logs something");
    let db_password = url_password(database_url()).expect("the URL has a password");
    let token_signature = user.token.rsplit('.').next().unwrap().to_owned();
    let secrets = [
        ("the user's password", user.password.as_str()),
        ("a wrong password", wrong_password),
        ("the access token", user.token.as_str()),
        ("a refresh token", pair.refresh_token.as_str()),
        ("a rotated refresh token", next.refresh_token.as_str()),
        ("a refreshed access token", next.access_token.as_str()),
        ("a new password", new_password),
        ("the token's signature", token_signature.as_str()),
        ("the JWT secret", app.jwt_secret()),
        ("the database password", db_password.as_str()),
    ];
    assert_hides(&logs, &secrets, "the logs: ");
}
