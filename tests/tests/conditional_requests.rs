//! Conditional requests on tasks through the real service and database
//! (issue 10): DELETE honours If-Match, If-Match compares strongly, a 412
//! carries the current ETag, a matching If-None-Match is 304, and a PATCH
//! that changes nothing keeps version, ETag and updated_at.

use e2e_tests::api::{expect_json, expect_problem};
use e2e_tests::{Task, TestApp, TestUser};
use reqwest::header::{HeaderName, ETAG, IF_MATCH, IF_NONE_MATCH};
use reqwest::{Method, Response, StatusCode};
use serde_json::json;

/// A server, a user, one task of theirs titled `title`, and its URI.
async fn with_one_task(title: &str) -> (TestApp, TestUser, Task, String) {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let task = app.new_task(&user, &json!({ "title": title })).await;
    let uri = format!("/api/v1/tasks/{}", task.id);
    (app, user, task, uri)
}

/// Sends `method uri` with `token` and one conditional header.
async fn conditional(
    app: &TestApp,
    method: Method,
    uri: &str,
    token: &str,
    (name, value): (HeaderName, &str),
) -> Response {
    let request = app.request(method, uri).bearer_auth(token);
    request.header(name, value).send().await.unwrap()
}

/// The answer's ETag, when it has a readable one.
fn etag(answer: &Response) -> Option<&str> {
    answer.headers().get(ETAG).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn delete_with_a_stale_or_weak_if_match_is_412_and_deletes_nothing() {
    let (app, user, task, uri) = with_one_task("keep me").await;

    for stale in ["\"2\"", "W/\"1\""] {
        let answer = conditional(&app, Method::DELETE, &uri, &user.token, (IF_MATCH, stale)).await;
        assert_eq!(etag(&answer), Some("\"1\""), "{stale}");
        expect_problem(answer, StatusCode::PRECONDITION_FAILED).await;
        assert!(app.db().await.task(task.id).await.is_some(), "{stale}");
    }

    let answer = conditional(&app, Method::DELETE, &uri, &user.token, (IF_MATCH, "\"1\"")).await;
    assert_eq!(answer.status(), StatusCode::NO_CONTENT);
    assert!(app.db().await.task(task.id).await.is_none());
}

#[tokio::test]
async fn get_with_the_current_etag_in_if_none_match_is_304() {
    let (app, user, _task, uri) = with_one_task("cached").await;

    let answer = conditional(
        &app,
        Method::GET,
        &uri,
        &user.token,
        (IF_NONE_MATCH, "\"1\""),
    )
    .await;
    assert_eq!(answer.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(etag(&answer), Some("\"1\""));

    let answer = conditional(
        &app,
        Method::GET,
        &uri,
        &user.token,
        (IF_NONE_MATCH, "\"7\""),
    )
    .await;
    expect_json(answer, StatusCode::OK).await;
}

#[tokio::test]
async fn a_patch_that_changes_nothing_keeps_version_etag_and_updated_at() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let task = app
        .new_task(&user, &json!({"title": "same", "priority": "low"}))
        .await;
    let id = task.id.to_string();

    let answer = app
        .patch_task(
            &user.token,
            &id,
            &json!({"title": "same", "priority": "low", "completed": false}),
            Some(1),
        )
        .await;
    assert_eq!(etag(&answer), Some("\"1\""));
    let body = expect_json(answer, StatusCode::OK).await;
    assert_eq!(body["version"], 1);
    assert_eq!(body["updated_at"], task.updated_at.as_str());
    assert_eq!(app.db().await.task(task.id).await.unwrap().version, 1);

    let changed = expect_json(
        app.patch_task(&user.token, &id, &json!({"completed": true}), Some(1))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(changed["version"], 2);
}
