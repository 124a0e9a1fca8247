//! Task endpoints: bodies, headers (Location, ETag), Idempotency-Key,
//! If-Match, PATCH null vs absent, paging, and the error table.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use application::ports::{CreatedTask, IdempotencyKey, Precondition, RepoError};
use axum::body::Body;
use domain::{Description, TaskPatch, TaskQuery, TaskSort};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn create_answers_201_with_location_etag_and_the_contract_shape() {
    let mut h = Harness::new();
    h.tasks
        .expect_create()
        .withf(|p, now, task, key| {
            *p == principal() && *now == t0() && task.title.as_str() == "Buy milk" && key.is_none()
        })
        .returning(|_, _, task, _| {
            Ok(CreatedTask {
                task: task.clone(),
                created: true,
            })
        });
    let answer = send(
        h.router(),
        json_request(authed("POST", "/api/v1/tasks"), r#"{"title": "Buy milk"}"#),
    )
    .await;
    let body = answer.json_with_status(201);
    let id = body["id"].as_str().unwrap();
    assert_eq!(
        answer.header("location"),
        Some(format!("/api/v1/tasks/{id}").as_str())
    );
    assert_eq!(answer.header("etag"), Some("\"1\""));
    assert_eq!(
        body,
        json!({
            "id": id, "title": "Buy milk", "description": null, "completed": false,
            "priority": "medium", "due_at": null, "created_at": "2030-01-01T12:00:00.000000Z",
            "updated_at": "2030-01-01T12:00:00.000000Z", "version": 1
        })
    );
}

/// Creates a task from `body` with a repo that stores whatever it is given.
async fn create_echoed(body: impl Into<Body>) -> Answer {
    let mut h = Harness::new();
    h.tasks.expect_create().returning(|_, _, task, _| {
        Ok(CreatedTask {
            task: task.clone(),
            created: true,
        })
    });
    send(
        h.router(),
        json_request(authed("POST", "/api/v1/tasks"), body),
    )
    .await
}

#[tokio::test]
async fn create_passes_every_field_through() {
    let answer = create_echoed(
        json!({"title": "T", "description": "D", "completed": true, "priority": "low",
                   "due_at": "2026-04-01T10:00:00+02:00"})
        .to_string(),
    )
    .await;
    let body = answer.json();
    assert_eq!(body["description"], "D");
    assert_eq!(body["completed"], true);
    assert_eq!(body["priority"], "low");
    assert_eq!(body["due_at"], "2026-04-01T08:00:00.000000Z");
}

/// Creates a task from `body` under idempotency key `key` through `h`'s router.
async fn create_with_key(h: Harness, key: &str, body: impl Into<Body>) -> Answer {
    send(
        h.router(),
        json_request(
            authed("POST", "/api/v1/tasks").header("idempotency-key", key),
            body,
        ),
    )
    .await
}

/// The idempotency key and fingerprint the repository saw for `raw`.
async fn key_seen_for(raw: &str) -> IdempotencyKey {
    let seen = Arc::new(Mutex::new(None));
    let recorded = seen.clone();
    let mut h = Harness::new();
    h.tasks.expect_create().returning(move |_, _, task, key| {
        *recorded.lock().unwrap() = key;
        Ok(CreatedTask {
            task: task.clone(),
            created: true,
        })
    });
    let answer = create_with_key(h, "key-1", raw.to_owned()).await;
    assert_eq!(answer.status, 201);
    let key = seen
        .lock()
        .unwrap()
        .clone()
        .expect("a key reached the repository");
    key
}

#[tokio::test]
async fn the_idempotency_fingerprint_depends_on_meaning_not_spelling() {
    let plain = key_seen_for(r#"{"title": "Pay rent"}"#).await;
    assert_eq!(plain.key, "key-1");
    let respelled =
        key_seen_for(r#"{ "priority":"medium","completed":false,   "title":"Pay rent" }"#).await;
    assert_eq!(plain, respelled);
    let other = key_seen_for(r#"{"title": "Pay rent", "priority": "high"}"#).await;
    assert_ne!(plain.fingerprint, other.fingerprint);
}

#[tokio::test]
async fn a_repeated_idempotent_create_returns_the_first_task_as_201() {
    let first = task();
    let first_id = first.id;
    let mut h = Harness::new();
    h.tasks.expect_create().returning(move |_, _, _, _| {
        Ok(CreatedTask {
            task: first.clone(),
            created: false,
        })
    });
    let answer = create_with_key(h, "k", r#"{"title": "Buy milk"}"#).await;
    assert_eq!(answer.status, 201);
    assert_eq!(answer.json()["id"], first_id.to_string());
    assert_eq!(answer.json()["description"], "2 litres");
    assert_eq!(
        answer.header("location"),
        Some(format!("/api/v1/tasks/{first_id}").as_str())
    );
}

#[tokio::test]
async fn an_idempotency_key_reused_with_another_body_is_409() {
    let mut h = Harness::new();
    h.tasks
        .expect_create()
        .returning(|_, _, _, _| Err(RepoError::IdempotencyKeyReused));
    let answer = create_with_key(h, "k", r#"{"title": "Other"}"#).await;
    answer.problem(409);
}

#[tokio::test]
async fn an_overlong_idempotency_key_is_422() {
    let answer = send_fresh(json_request(
        authed("POST", "/api/v1/tasks").header("idempotency-key", "k".repeat(256)),
        r#"{"title": "T"}"#,
    ))
    .await;
    assert_eq!(answer.problem(422)["errors"][0]["field"], "Idempotency-Key");
}

#[tokio::test]
async fn invalid_task_fields_are_422_with_one_error_per_field() {
    let answer = send_fresh(json_request(
        authed("POST", "/api/v1/tasks"),
        json!({"title": "   ", "description": "d".repeat(5001), "priority": "urgent",
                   "due_at": "tomorrow"})
        .to_string(),
    ))
    .await;
    let body = answer.problem(422);
    let errors = body["errors"].as_array().unwrap();
    let fields = error_fields(&body);
    assert_eq!(fields, ["title", "description", "priority", "due_at"]);
    assert_eq!(errors[0]["message"], "must not be blank");
}

#[tokio::test]
async fn null_is_refused_for_fields_that_have_no_null_on_create() {
    let answer = send_fresh(json_request(
        authed("POST", "/api/v1/tasks"),
        r#"{"title": "x", "completed": null, "priority": null}"#,
    ))
    .await;
    let body = answer.problem(422);
    assert_eq!(body["errors"][0]["field"], "completed");
    assert_eq!(body["errors"][1]["field"], "priority");
}

#[tokio::test]
async fn null_description_and_due_at_on_create_mean_none() {
    let answer = create_echoed(r#"{"title": "x", "description": null, "due_at": null}"#).await;
    assert_eq!(answer.status, 201);
    assert_eq!(answer.json()["description"], serde_json::Value::Null);
}

#[tokio::test]
async fn get_answers_the_task_with_its_etag() {
    let stored = task();
    let id = stored.id;
    let mut h = Harness::new();
    h.tasks
        .expect_get()
        .withf(move |p, _, got| *p == principal() && *got == id)
        .returning(move |_, _, _| Ok(stored.clone()));
    let answer = h.get_authed(&format!("/api/v1/tasks/{id}")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("etag"), Some("\"1\""));
    assert_eq!(answer.json()["priority"], "high");
}

#[tokio::test]
async fn another_users_task_and_a_missing_one_are_the_same_404() {
    let mut h = Harness::new();
    h.tasks
        .expect_get()
        .returning(|_, _, _| Err(RepoError::NotFound));
    let router = h.router();
    let missing = send(
        router.clone(),
        empty(authed(
            "GET",
            &format!("/api/v1/tasks/{}", uuid::Uuid::now_v7()),
        )),
    )
    .await;
    let body = missing.problem(404);
    assert_eq!(body["detail"], "task not found");
    let not_a_uuid = send(router, empty(authed("GET", "/api/v1/tasks/not-a-uuid"))).await;
    assert_eq!(not_a_uuid.problem(404), body);
}

#[tokio::test]
async fn task_routes_need_a_token() {
    let id = uuid::Uuid::now_v7();
    for (method, uri) in [
        ("GET", "/api/v1/tasks".to_owned()),
        ("POST", "/api/v1/tasks".to_owned()),
        ("GET", format!("/api/v1/tasks/{id}")),
        ("PATCH", format!("/api/v1/tasks/{id}")),
        ("DELETE", format!("/api/v1/tasks/{id}")),
    ] {
        let request = axum::http::Request::builder()
            .method(method)
            .uri(&uri)
            .header("content-type", "application/json")
            .body(axum::body::Body::from("{}"))
            .unwrap();
        let answer = send_fresh(request).await;
        answer.problem(401);
        assert_eq!(
            answer.header("www-authenticate"),
            Some("Bearer"),
            "{method} {uri}"
        );
    }
}

/// Sends a PATCH and returns what reached the repository.
async fn send_patch(
    body: &str,
    if_match: Option<&str>,
) -> (Answer, Option<(TaskPatch, Precondition)>) {
    let seen = Arc::new(Mutex::new(None));
    let recorded = seen.clone();
    let mut h = Harness::new();
    h.tasks
        .expect_update()
        .returning(move |_, now, _, patch, expected| {
            *recorded.lock().unwrap() = Some((patch.clone(), expected.clone()));
            Ok(patch.apply(&task(), now))
        });
    let mut builder = authed("PATCH", &format!("/api/v1/tasks/{}", task().id));
    if let Some(value) = if_match {
        builder = builder.header("if-match", value);
    }
    let answer = send(h.router(), json_request(builder, body.to_owned())).await;
    let seen = seen.lock().unwrap().clone();
    (answer, seen)
}

#[tokio::test]
async fn patch_null_clears_and_absent_leaves_alone() {
    let (answer, seen) = send_patch(r#"{"description": null, "completed": true}"#, None).await;
    assert_eq!(answer.status, 200);
    let (patch, expected) = seen.unwrap();
    assert_eq!(
        patch,
        TaskPatch {
            description: Some(None),
            completed: Some(true),
            ..TaskPatch::default()
        }
    );
    assert_eq!(expected, Precondition::Any);
    let body = answer.json();
    assert_eq!(body["description"], serde_json::Value::Null);
    assert_eq!(body["title"], "Buy milk");
    assert_eq!(body["version"], 2);
    assert_eq!(answer.header("etag"), Some("\"2\""));

    let (_, seen) = send_patch(r#"{"description": "new"}"#, None).await;
    assert_eq!(
        seen.unwrap().0,
        TaskPatch {
            description: Some(Some(Description::parse("new").unwrap())),
            ..TaskPatch::default()
        }
    );
}

#[tokio::test]
async fn patch_title_null_is_422() {
    let (answer, seen) = send_patch(r#"{"title": null}"#, None).await;
    assert_eq!(answer.problem(422)["errors"][0]["field"], "title");
    assert!(seen.is_none());
}

#[tokio::test]
async fn if_match_becomes_the_precondition_compared_strongly() {
    for (header, expected) in [
        ("\"3\"", Precondition::OneOf(vec![3])),
        ("W/\"3\"", Precondition::OneOf(vec![])),
        ("3", Precondition::OneOf(vec![3])),
        ("\"3\", \"4\"", Precondition::OneOf(vec![3, 4])),
        ("*", Precondition::Any),
        ("\"abc\"", Precondition::OneOf(vec![])),
    ] {
        let (answer, seen) = send_patch(r#"{"completed": true}"#, Some(header)).await;
        assert_eq!(answer.status, 200, "{header}");
        assert_eq!(seen.unwrap().1, expected, "{header}");
    }
}

#[tokio::test]
async fn a_malformed_if_match_is_400() {
    let (answer, seen) = send_patch(r#"{"completed": true}"#, Some("\"3")).await;
    answer.problem(400);
    assert!(seen.is_none());
}

#[tokio::test]
async fn a_stale_if_match_is_412_with_the_current_etag() {
    let mut h = Harness::new();
    h.tasks
        .expect_update()
        .returning(|_, _, _, _, _| Err(RepoError::PreconditionFailed { current: 2 }));
    let answer = send(
        h.router(),
        json_request(
            authed("PATCH", &format!("/api/v1/tasks/{}", task().id)).header("if-match", "\"1\""),
            r#"{"title": "x"}"#,
        ),
    )
    .await;
    answer.problem(412);
    assert_eq!(answer.header("etag"), Some("\"2\""));
}

#[tokio::test]
async fn patch_of_a_missing_task_is_404() {
    let mut h = Harness::new();
    h.tasks
        .expect_update()
        .returning(|_, _, _, _, _| Err(RepoError::NotFound));
    let answer = send(
        h.router(),
        json_request(
            authed("PATCH", &format!("/api/v1/tasks/{}", uuid::Uuid::now_v7())),
            r#"{"completed": true}"#,
        ),
    )
    .await;
    answer.problem(404);
}

#[tokio::test]
async fn delete_is_204_then_404() {
    let mut h = Harness::new();
    let mut delete = ok_once_then(|| RepoError::NotFound);
    h.tasks
        .expect_delete()
        .times(2)
        .returning(move |_, _, _, _| delete());
    let router = h.router();
    let uri = format!("/api/v1/tasks/{}", task().id);
    let first = send(router.clone(), empty(authed("DELETE", &uri))).await;
    assert_eq!(first.status, 204);
    assert!(first.body.is_empty());
    send(router, empty(authed("DELETE", &uri)))
        .await
        .problem(404);
}

#[tokio::test]
async fn delete_passes_if_match_and_a_stale_one_is_412_with_the_current_etag() {
    let mut h = Harness::new();
    h.tasks
        .expect_delete()
        .withf(|_, _, _, precondition| *precondition == Precondition::OneOf(vec![1]))
        .returning(|_, _, _, _| Err(RepoError::PreconditionFailed { current: 3 }));
    let uri = format!("/api/v1/tasks/{}", task().id);
    let answer = send(
        h.router(),
        empty(authed("DELETE", &uri).header("if-match", "\"1\"")),
    )
    .await;
    answer.problem(412);
    assert_eq!(answer.header("etag"), Some("\"3\""));
}

#[tokio::test]
async fn get_with_a_matching_if_none_match_is_304_with_the_etag() {
    for (header, status) in [("\"1\"", 304), ("W/\"1\"", 304), ("*", 304), ("\"2\"", 200)] {
        let mut h = Harness::new();
        h.tasks.expect_get().returning(|_, _, _| Ok(task()));
        let uri = format!("/api/v1/tasks/{}", task().id);
        let answer = send(
            h.router(),
            empty(authed("GET", &uri).header("if-none-match", header)),
        )
        .await;
        assert_eq!(answer.status, status, "{header}");
        assert_eq!(answer.header("etag"), Some("\"1\""), "{header}");
        if status == 304 {
            assert!(answer.body.is_empty(), "{header}");
        }
    }
}

#[tokio::test]
async fn list_passes_the_query_and_answers_items_and_next_cursor() {
    let seen = Arc::new(Mutex::new(None::<TaskQuery>));
    let recorded = seen.clone();
    let mut h = Harness::new();
    h.tasks.expect_list().returning(move |_, _, query| {
        *recorded.lock().unwrap() = Some(query.clone());
        // One more than the limit of 2: there is a next page.
        Ok(vec![task(), task(), task()])
    });
    let answer = send(
        h.router(),
        empty(authed(
            "GET",
            "/api/v1/tasks?completed=false&q=Milk&limit=2&sort=priority",
        )),
    )
    .await;
    let body = answer.json_with_status(200);
    assert_eq!(body["items"].as_array().unwrap().len(), 2);
    assert!(body["next_cursor"].is_string());
    let query = seen.lock().unwrap().clone().unwrap();
    assert_eq!(query.completed, Some(false));
    assert_eq!(query.search.as_deref(), Some("Milk"));
    assert_eq!(query.sort, TaskSort::Priority);
    assert_eq!(query.limit, 3);
}

#[tokio::test]
async fn the_last_page_has_a_null_cursor() {
    let mut h = Harness::new();
    h.tasks.expect_list().returning(|_, _, _| Ok(vec![task()]));
    let answer = h.get_authed("/api/v1/tasks").await;
    assert_eq!(answer.json()["next_cursor"], serde_json::Value::Null);
}

#[tokio::test]
async fn invalid_list_parameters_are_422_and_a_malformed_query_is_400() {
    let answer = send_fresh(empty(authed(
        "GET",
        "/api/v1/tasks?limit=0&sort=title&completed=yes&cursor=zzz",
    )))
    .await;
    let body = answer.problem(422);
    let fields = error_fields(&body);
    assert_eq!(fields, ["completed", "limit", "sort", "cursor"]);

    let answer = send_fresh(empty(authed("GET", "/api/v1/tasks?limit=1&limit=2"))).await;
    answer.problem(400);
}

#[tokio::test]
async fn an_unreachable_database_is_503_with_retry_after() {
    let mut h = Harness::new();
    h.tasks
        .expect_list()
        .returning(|_, _, _| Err(unavailable(Duration::from_millis(2_500))));
    let answer = h.get_authed("/api/v1/tasks").await;
    answer.problem_with_header(503, "retry-after", "3");
}

#[tokio::test]
async fn an_internal_error_is_an_opaque_500() {
    let mut h = Harness::new();
    h.tasks.expect_get().returning(|_, _, _| {
        Err(RepoError::Internal(
            "syntax error at or near SELECT; password=hunter2 host=db.internal".into(),
        ))
    });
    let answer = h.get_authed(&format!("/api/v1/tasks/{}", task().id)).await;
    let body = answer.problem(500);
    assert_eq!(body["detail"], "internal error");
    let text = String::from_utf8_lossy(&answer.body);
    for leak in ["SELECT", "hunter2", "db.internal"] {
        assert!(!text.contains(leak), "{text}");
    }
}
