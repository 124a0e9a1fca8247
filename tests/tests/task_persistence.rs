//! Task create, update and delete are each visible in the `tasks` table
//! right after the call answers.

use chrono::{DateTime, Utc};
use e2e_tests::api::{expect_json, expect_problem};
use e2e_tests::{Task, TestApp};
use reqwest::header::{ETAG, LOCATION};
use reqwest::StatusCode;
use serde_json::json;

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("`{text}` is RFC 3339: {e}"))
        .with_timezone(&Utc)
}

#[tokio::test]
async fn a_created_task_is_in_the_tasks_table_at_once() {
    let (app, user) = TestApp::with_user().await;

    let response = app
        .create_task(
            &user.token,
            &json!({"title": "Buy milk", "description": "2 litres", "priority": "high",
                    "due_at": "2030-01-02T03:04:05Z"}),
        )
        .await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers().get(LOCATION).cloned();
    let etag = response.headers().get(ETAG).cloned();
    let task: Task = response.json().await.unwrap();
    assert_eq!(
        location.as_ref().and_then(|v| v.to_str().ok()),
        Some(format!("/api/v1/tasks/{}", task.id).as_str())
    );
    assert_eq!(etag.as_ref().and_then(|v| v.to_str().ok()), Some("\"1\""));
    let row = app.task_row(task.id).await;
    assert_eq!(row.user_id, user.id);
    assert_eq!(row.title, "Buy milk");
    assert_eq!(row.description.as_deref(), Some("2 litres"));
    assert_eq!(row.priority, "high");
    assert!(!row.completed);
    assert_eq!(row.due_at, Some(utc("2030-01-02T03:04:05Z")));
    assert_eq!(row.version, 1);
    assert_eq!(task.version, 1);
    assert!((utc(&task.created_at) - row.created_at).num_seconds().abs() < 1);
}

#[tokio::test]
async fn a_task_created_with_only_a_title_gets_the_documented_defaults() {
    let (app, user) = TestApp::with_user().await;

    let task = app.new_task(&user, &json!({"title": "Just a title"})).await;

    assert_eq!(task.priority, "medium");
    assert!(!task.completed);
    assert_eq!(task.description, None);
    assert_eq!(task.due_at, None);
    let row = app.task_row(task.id).await;
    assert_eq!(row.priority, "medium");
    assert_eq!(row.description, None);
    assert_eq!(row.due_at, None);
}

#[tokio::test]
async fn an_update_is_in_the_tasks_table_at_once_with_a_new_version() {
    let (app, user, task) =
        TestApp::with_task(json!({"title": "Draft", "description": "old"})).await;

    let response = app
        .patch_task(
            &user.token,
            &task.id.to_string(),
            &json!({"title": "Final", "completed": true, "priority": "low"}),
            None,
        )
        .await;

    assert_eq!(
        response.headers().get(ETAG).and_then(|v| v.to_str().ok()),
        Some("\"2\"")
    );
    let updated = expect_json(response, StatusCode::OK).await;
    assert_eq!(updated["title"], "Final");
    assert_eq!(updated["version"], 2);
    let row = app.task_row(task.id).await;
    assert_eq!(row.title, "Final");
    assert!(row.completed);
    assert_eq!(row.priority, "low");
    assert_eq!(
        row.description.as_deref(),
        Some("old"),
        "fields not sent stay"
    );
    assert_eq!(row.version, 2);
    assert!(row.updated_at >= row.created_at);
    assert_eq!(
        updated["created_at"],
        task.created_at.as_str(),
        "created_at never changes"
    );
}

#[tokio::test]
async fn null_in_a_patch_clears_description_and_due_date_in_the_table() {
    let (app, user) = TestApp::with_user().await;
    let task = app
        .new_task(
            &user,
            &json!({"title": "Dated", "description": "text", "due_at": "2031-05-06T07:08:09Z"}),
        )
        .await;

    let updated = app
        .patched(
            &user,
            task.id,
            &json!({"description": null, "due_at": null}),
            Some(1),
        )
        .await;

    assert!(updated["description"].is_null());
    assert!(updated["due_at"].is_null());
    let row = app.task_row(task.id).await;
    assert_eq!(row.description, None);
    assert_eq!(row.due_at, None);
    assert_eq!(row.title, "Dated");
}

#[tokio::test]
async fn a_deleted_task_is_gone_from_the_tasks_table_at_once() {
    let (app, user, task) = TestApp::with_task(json!({"title": "Short-lived"})).await;
    let id = task.id.to_string();

    let response = app.delete_task(&user.token, &id).await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.db().await.task(task.id).await, None);
    expect_problem(app.get_task(&user.token, &id).await, StatusCode::NOT_FOUND).await;
    expect_problem(
        app.delete_task(&user.token, &id).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn a_task_read_back_matches_what_was_created() {
    let (app, user, task) =
        TestApp::with_task(json!({"title": "Read me", "priority": "low"})).await;

    let response = app.get_task(&user.token, &task.id.to_string()).await;

    assert_eq!(
        response.headers().get(ETAG).and_then(|v| v.to_str().ok()),
        Some("\"1\"")
    );
    let read: Task = response.json().await.unwrap();
    assert_eq!(read, task);
}
