//! Health, readiness, metrics, OpenAPI, request ids, CORS and timeouts.

use std::time::Duration;

use application::ports::RepoError;
use axum::body::Body;
use axum::http::Request;

use crate::support::*;

fn get(uri: &str) -> Request<Body> {
    Request::builder().uri(uri).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn healthz_is_200_even_when_the_database_is_down() {
    let mut h = Harness::new();
    h.readiness.ready = false;
    let answer = send(h.router(), get("/healthz")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["status"], "ok");
}

#[tokio::test]
async fn readyz_follows_the_database() {
    let answer = send(Harness::new().router(), get("/readyz")).await;
    assert_eq!(answer.status, 200);

    let mut h = Harness::new();
    h.readiness.ready = false;
    let answer = send(h.router(), get("/readyz")).await;
    answer.problem(503);
    assert_eq!(answer.header("retry-after"), Some("1"));
}

#[tokio::test(start_paused = true)]
async fn readyz_is_503_when_the_database_does_not_answer_in_time() {
    let mut h = Harness::new();
    h.readiness.delay = Duration::from_secs(60);
    let answer = send(h.router(), get("/readyz")).await;
    answer.problem(503);
}

#[tokio::test(start_paused = true)]
async fn a_request_over_the_timeout_is_503_with_retry_after() {
    let mut h = Harness::new();
    h.readiness.delay = Duration::from_secs(60);
    h.settings.request_timeout = Duration::from_millis(100);
    let answer = send(h.router(), get("/readyz")).await;
    let body = answer.problem(503);
    assert!(
        body["detail"].as_str().unwrap().contains("too long"),
        "{body}"
    );
    assert_eq!(answer.header("retry-after"), Some("1"));
}

#[tokio::test]
async fn a_sane_request_id_is_echoed_and_otherwise_one_is_made() {
    let router = Harness::new().router();
    let request = Request::builder()
        .uri("/healthz")
        .header("x-request-id", "client-id-42")
        .body(Body::empty())
        .unwrap();
    let answer = send(router.clone(), request).await;
    assert_eq!(answer.header("x-request-id"), Some("client-id-42"));

    let request = Request::builder()
        .uri("/healthz")
        .header("x-request-id", "bad id with spaces")
        .body(Body::empty())
        .unwrap();
    let answer = send(router, request).await;
    let made = answer.header("x-request-id").unwrap();
    assert!(made.parse::<uuid::Uuid>().is_ok(), "{made}");
}

#[tokio::test]
async fn error_answers_carry_a_request_id_too() {
    let answer = send(Harness::new().router(), get("/api/v1/auth/me")).await;
    answer.problem(401);
    assert!(answer.header("x-request-id").is_some());
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_show_the_pool() {
    let mut h = Harness::new();
    h.tasks.expect_get().returning(|_, _, _| {
        Err(RepoError::Unavailable {
            retry_after: Duration::from_secs(1),
        })
    });
    let router = h.router();
    let id = task().id;
    for _ in 0..2 {
        send(
            router.clone(),
            empty(authed("GET", &format!("/api/v1/tasks/{id}"))),
        )
        .await;
    }
    send(router.clone(), get("/no/such/path")).await;
    let answer = send(router, get("/metrics")).await;
    assert_eq!(answer.status, 200);
    assert!(answer.content_type().starts_with("text/plain"));
    let text = String::from_utf8(answer.body.to_vec()).unwrap();
    assert!(
        text.contains(
            r#"http_requests_total{method="GET",route="/api/v1/tasks/{id}",status="503"} 2"#
        ),
        "{text}"
    );
    assert!(text.contains(r#"route="unmatched",status="404""#), "{text}");
    assert!(
        !text.contains(&id.to_string()),
        "raw paths must not be labels"
    );
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains(r#"db_errors_total{kind="unavailable"} 2"#),
        "{text}"
    );
    for line in [
        "db_pool_size 7",
        "db_pool_available 3",
        "db_pool_waiting 2",
        "db_pool_max_size 15",
    ] {
        assert!(text.contains(line), "{line} missing in {text}");
    }
}

#[tokio::test]
async fn openapi_json_is_a_3_1_document_listing_every_path_of_the_contract() {
    let answer = send(Harness::new().router(), get("/openapi.json")).await;
    assert_eq!(answer.status, 200);
    let doc = answer.json();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/api/v1/auth/register", &["post"][..]),
        ("/api/v1/auth/login", &["post"]),
        ("/api/v1/auth/logout", &["post"]),
        ("/api/v1/auth/me", &["get"]),
        ("/api/v1/tasks", &["get", "post"]),
        ("/api/v1/tasks/{id}", &["get", "patch", "delete"]),
        ("/healthz", &["get"]),
        ("/readyz", &["get"]),
        ("/openapi.json", &["get"]),
        ("/metrics", &["get"]),
    ] {
        for method in methods {
            assert!(paths[path][method].is_object(), "{method} {path} missing");
        }
    }
    assert_eq!(paths.len(), 10, "{:?}", paths.keys().collect::<Vec<_>>());
    // Protected operations document their 401; the error table's statuses are there.
    let patch = &paths["/api/v1/tasks/{id}"]["patch"]["responses"];
    for status in ["200", "401", "404", "412", "422", "503"] {
        assert!(patch[status].is_object(), "PATCH lacks {status}");
    }
    assert!(paths["/api/v1/auth/login"]["post"]["responses"]["429"].is_object());
    assert!(paths["/api/v1/auth/register"]["post"]["responses"]["409"].is_object());
    let task = &doc["components"]["schemas"]["TaskBody"];
    let required: Vec<&str> = task["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for field in [
        "id",
        "title",
        "description",
        "completed",
        "priority",
        "due_at",
        "created_at",
        "updated_at",
        "version",
    ] {
        assert!(required.contains(&field), "{field} not required in {task}");
    }
}

#[tokio::test]
async fn without_configured_origins_there_are_no_cors_headers() {
    let request = Request::builder()
        .uri("/healthz")
        .header("origin", "https://app.example")
        .body(Body::empty())
        .unwrap();
    let answer = send(Harness::new().router(), request).await;
    assert!(answer.header("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn configured_origins_get_cors_headers_and_others_do_not() {
    let mut h = Harness::new();
    h.settings.cors_allowed_origins = vec!["https://app.example".to_owned()];
    let router = h.router();
    let preflight = Request::builder()
        .method("OPTIONS")
        .uri("/api/v1/tasks")
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .body(Body::empty())
        .unwrap();
    let answer = send(router.clone(), preflight).await;
    assert!(answer.status.is_success(), "{}", answer.status);
    assert_eq!(
        answer.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    let request = Request::builder()
        .uri("/healthz")
        .header("origin", "https://evil.example")
        .body(Body::empty())
        .unwrap();
    let answer = send(router, request).await;
    assert!(answer.header("access-control-allow-origin").is_none());
}
