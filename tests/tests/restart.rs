//! Data survives the server: after a SIGKILL, a new process on the same
//! database logs the user in and serves the same tasks, unchanged.

use std::os::unix::process::ExitStatusExt;

use e2e_tests::api::expect_json;
use e2e_tests::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn after_sigkill_a_new_server_logs_in_and_serves_the_same_tasks() {
    e2e_tests::needs_own_server!("kills and restarts the server");
    let mut app = TestApp::spawn().await;
    let user = app.new_user().await;
    let first = app
        .new_task(
            &user,
            &json!({"title": "Survive", "description": "a restart", "priority": "high",
                    "due_at": "2030-06-01T12:00:00Z"}),
        )
        .await;
    app.new_task(&user, &json!({"title": "Second"})).await;
    let third = app.new_task(&user, &json!({"title": "Third"})).await;
    app.patched(&user, third.id, &json!({"completed": true}), None)
        .await;
    let before: Value = expect_json(app.list_tasks(&user.token, &[]).await, StatusCode::OK).await;
    let first_before = expect_json(
        app.get_task(&user.token, &first.id.to_string()).await,
        StatusCode::OK,
    )
    .await;

    let status = app.kill_and_restart().await;

    assert_eq!(status.signal(), Some(9), "the old server died of SIGKILL");
    let token = app.login_token(&user.email, &user.password).await;
    let after: Value = expect_json(app.list_tasks(&token, &[]).await, StatusCode::OK).await;
    assert_eq!(after, before, "the task list is unchanged");
    assert_eq!(after["items"].as_array().map(Vec::len), Some(3));
    let first_after = expect_json(
        app.get_task(&token, &first.id.to_string()).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(first_after, first_before);
}

#[tokio::test]
async fn a_token_issued_before_a_restart_still_works_after_it() {
    e2e_tests::needs_own_server!("kills and restarts the server");
    let mut app = TestApp::spawn().await;
    let user = app.new_user().await;
    app.new_task(&user, &json!({"title": "Keep"})).await;

    app.kill_and_restart().await;

    let page = app.task_page(&user, &[]).await;
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].title, "Keep");
}

#[tokio::test]
async fn sigterm_stops_the_server_cleanly() {
    e2e_tests::needs_own_server!("stops the server");
    let mut app = TestApp::spawn().await;
    app.new_user().await;

    let status = app.stop().await;

    assert!(
        status.success(),
        "SIGTERM is a graceful shutdown with exit status 0, got {status}; output:\n{}",
        app.logs()
    );
}
