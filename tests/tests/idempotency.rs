//! `Idempotency-Key` on task creation: a repeat with the same key and body
//! answers the first task and creates nothing new.

use e2e_tests::api::expect_json;
use e2e_tests::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

#[tokio::test]
async fn the_same_key_and_body_twice_creates_one_task_and_answers_it_twice() {
    let (app, user) = TestApp::with_user().await;
    let key = Uuid::new_v4().to_string();
    let body = json!({"title": "Pay rent", "priority": "high"});

    let first = app.created_with_key(&user, &key, &body).await;
    let second = app.created_with_key(&user, &key, &body).await;

    assert_eq!(second["id"], first["id"]);
    assert_eq!(second, first, "the repeat answers the first task");
    let rows = app.db().await.tasks_of(user.id).await;
    assert_eq!(rows.len(), 1, "one row for one key");
    assert_eq!(rows[0].id.to_string(), first["id"].as_str().unwrap());
    assert_eq!(rows[0].idempotency_key.as_deref(), Some(key.as_str()));
}

#[tokio::test]
async fn a_repeat_answers_the_first_answer_after_the_task_was_changed_or_deleted() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let key = Uuid::new_v4().to_string();
    let body = json!({"title": "As first answered", "priority": "low"});

    let first = app.create_task_with_key(&user.token, &key, &body).await;
    let first_etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let first = expect_json(first, StatusCode::CREATED).await;
    let id = first["id"].as_str().unwrap().to_owned();
    expect_json(
        app.patch_task(&user.token, &id, &json!({"title": "Changed since"}), None)
            .await,
        StatusCode::OK,
    )
    .await;

    let after_change = app.create_task_with_key(&user.token, &key, &body).await;
    assert_eq!(after_change.headers()["etag"].to_str().unwrap(), first_etag);
    let after_change = expect_json(after_change, StatusCode::CREATED).await;
    assert_eq!(after_change, first, "the replay is the first answer");

    assert_eq!(
        app.delete_task(&user.token, &id).await.status(),
        StatusCode::NO_CONTENT
    );
    let after_delete = expect_json(
        app.create_task_with_key(&user.token, &key, &body).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(after_delete, first);
    assert!(
        app.db().await.tasks_of(user.id).await.is_empty(),
        "the key created nothing again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_repeats_of_one_key_still_create_one_task() {
    let (app, user) = TestApp::with_user().await;
    let key = Uuid::new_v4().to_string();
    let body = json!({"title": "Only once"});

    let answers = create_concurrently(&app, &user.token, &key, &body, 5).await;

    // A repeat that overlaps the first may be told to retry (409); every
    // 201 names the same task.
    let ids: Vec<Value> = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::CREATED)
        .map(|(_, body)| body["id"].clone())
        .collect();
    assert!(!ids.is_empty(), "at least one create succeeds: {answers:?}");
    assert!(
        ids.windows(2).all(|w| w[0] == w[1]),
        "one id for all: {ids:?}"
    );
    assert!(
        answers
            .iter()
            .all(|(status, _)| matches!(*status, StatusCode::CREATED | StatusCode::CONFLICT)),
        "{answers:?}"
    );
    assert_eq!(app.db().await.tasks_of(user.id).await.len(), 1);
}

/// Sends `n` identical keyed creates at once.
async fn create_concurrently(
    app: &TestApp,
    token: &str,
    key: &str,
    body: &Value,
    n: usize,
) -> Vec<(StatusCode, Value)> {
    let mut handles = Vec::new();
    for _ in 0..n {
        let api = app.api().clone();
        let (token, key, body) = (token.to_owned(), key.to_owned(), body.clone());
        handles.push(tokio::spawn(async move {
            let response = api.create_task_with_key(&token, &key, &body).await;
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }));
    }
    let mut answers = Vec::new();
    for handle in handles {
        answers.push(handle.await.expect("the request task finished"));
    }
    answers
}

#[tokio::test]
async fn the_same_key_with_another_body_creates_nothing_new() {
    let (app, user) = TestApp::with_user().await;
    let key = Uuid::new_v4().to_string();
    app.created_with_key(&user, &key, &json!({"title": "First"}))
        .await;

    let response = app
        .create_task_with_key(&user.token, &key, &json!({"title": "Different"}))
        .await;

    assert!(
        response.status().is_client_error(),
        "reusing a key for another body is refused, got {}",
        response.status()
    );
    let rows = app.db().await.tasks_of(user.id).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].title, "First");
}

#[tokio::test]
async fn without_a_key_the_same_body_twice_creates_two_tasks() {
    let (app, user) = TestApp::with_user().await;
    let body = json!({"title": "Twice"});

    let first = app.new_task(&user, &body).await;
    let second = app.new_task(&user, &body).await;

    assert_ne!(first.id, second.id);
    assert_eq!(app.db().await.tasks_of(user.id).await.len(), 2);
}

#[tokio::test]
async fn keys_are_per_user() {
    let (app, [alice, bob]) = TestApp::with_users().await;
    let key = Uuid::new_v4().to_string();
    let body = json!({"title": "Same key, other user"});

    let for_alice = app.created_with_key(&alice, &key, &body).await;
    let for_bob = app.created_with_key(&bob, &key, &body).await;

    assert_ne!(for_alice["id"], for_bob["id"]);
    assert_eq!(app.db().await.tasks_of(bob.id).await.len(), 1);
    assert_eq!(app.db().await.tasks_of(alice.id).await.len(), 1);
}
