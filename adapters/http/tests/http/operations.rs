//! Health, readiness, metrics, OpenAPI, request ids, CORS and timeouts.

use std::time::Duration;

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
    let answer = send_fresh(get("/readyz")).await;
    assert_eq!(answer.status, 200);

    let mut h = Harness::new();
    h.readiness.ready = false;
    let answer = send(h.router(), get("/readyz")).await;
    answer.problem_with_header(503, "retry-after", "1");
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
    let request = with_header("/healthz", "x-request-id", "client-id-42");
    let answer = send(router.clone(), request).await;
    assert_eq!(answer.header("x-request-id"), Some("client-id-42"));

    let request = with_header("/healthz", "x-request-id", "bad id with spaces");
    let answer = send(router, request).await;
    let made = answer.header("x-request-id").unwrap();
    assert!(made.parse::<uuid::Uuid>().is_ok(), "{made}");
}

#[tokio::test]
async fn error_answers_carry_a_request_id_too() {
    let answer = send_fresh(get("/api/v1/auth/me")).await;
    answer.problem(401);
    assert!(answer.header("x-request-id").is_some());
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_show_the_pool() {
    let mut h = Harness::new();
    h.tasks
        .expect_get()
        .returning(|_, _, _| Err(unavailable(Duration::from_secs(1))));
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
async fn metrics_needs_the_configured_bearer_token() {
    const SCRAPE: &str = "scrape-token-0123456789";
    let mut h = Harness::new();
    h.settings.metrics_token = adapter_http::MetricsToken::new(SCRAPE);
    let router = h.router();
    for authorization in [
        None,
        Some("Bearer wrong-token"),
        Some("Basic x"),
        Some(TOKEN),
    ] {
        let mut request = Request::get("/metrics");
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let answer = send(router.clone(), request.body(Body::empty()).unwrap()).await;
        answer.problem(401);
        assert!(!String::from_utf8_lossy(&answer.body).contains("http_requests_total"));
    }
    let answer = send(
        router,
        Request::get("/metrics")
            .header("authorization", format!("Bearer {SCRAPE}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert!(String::from_utf8_lossy(&answer.body).contains("http_requests_total"));
    assert_eq!(answer.header("cache-control"), Some("no-store"));

    // Without a token configured, /metrics stays open.
    assert_eq!(send_fresh(get("/metrics")).await.status, 200);
}

#[tokio::test]
async fn every_answer_is_nosniff_and_token_or_user_answers_are_no_store() {
    let mut h = Harness::new();
    h.tasks.expect_get().returning(|_, _, _| Ok(task()));
    let router = h.router();
    let id = task().id;
    for (request, private) in [
        (empty(authed("GET", &format!("/api/v1/tasks/{id}"))), true),
        (empty(authed("GET", "/api/v1/tasks/not-a-uuid")), true),
        (get("/api/v1/tasks"), true),
        (
            json_request(Request::post("/api/v1/auth/login"), r#"{"email": 5}"#),
            true,
        ),
        (get("/healthz"), false),
        (get("/openapi.json"), false),
        (get("/no/such/path"), false),
    ] {
        let uri = request.uri().to_string();
        let answer = send(router.clone(), request).await;
        assert_eq!(
            answer.header("x-content-type-options"),
            Some("nosniff"),
            "{uri}"
        );
        let cache = answer.header("cache-control");
        if private {
            assert_eq!(cache, Some("no-store"), "{uri}");
        } else {
            assert_ne!(cache, Some("no-store"), "{uri}");
        }
    }
}

#[tokio::test]
async fn openapi_json_is_a_3_1_document_listing_every_path_of_the_contract() {
    let answer = send_fresh(get("/openapi.json")).await;
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
        ("/api/v1/auth/me", &["get", "delete"]),
        ("/api/v1/auth/password-reset", &["post"]),
        ("/api/v1/auth/password-reset/confirm", &["post"]),
        ("/api/v1/auth/verify-email", &["post"]),
        ("/api/v1/auth/verify-email/resend", &["post"]),
        ("/api/v1/auth/me/export", &["get"]),
        ("/api/v1/auth/refresh", &["post"]),
        ("/api/v1/auth/sessions", &["get"]),
        ("/api/v1/auth/sessions/{id}", &["delete"]),
        ("/api/v1/auth/password", &["post"]),
        ("/api/v1/auth/events", &["get"]),
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
    assert_eq!(paths.len(), 20, "{:?}", paths.keys().collect::<Vec<_>>());
    // Protected operations document their 401; the error table's statuses are there.
    let patch = &paths["/api/v1/tasks/{id}"]["patch"]["responses"];
    for status in ["200", "401", "404", "412", "422", "503"] {
        assert!(patch[status].is_object(), "PATCH lacks {status}");
    }
    assert!(paths["/api/v1/auth/login"]["post"]["responses"]["429"].is_object());
    assert!(paths["/api/v1/auth/register"]["post"]["responses"]["409"].is_object());
    for (path, status) in [
        ("/api/v1/auth/password-reset", "202"),
        ("/api/v1/auth/password-reset/confirm", "400"),
        ("/api/v1/auth/verify-email", "400"),
        ("/api/v1/auth/verify-email/resend", "401"),
    ] {
        assert!(
            paths[path]["post"]["responses"][status].is_object(),
            "{path} lacks {status}"
        );
    }
    for schema in [
        "PasswordResetRequest",
        "PasswordResetConfirmRequest",
        "VerifyEmailRequest",
        "AcceptedBody",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "{schema} missing"
        );
    }
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
    let request = with_header("/healthz", "origin", "https://app.example");
    let answer = send_fresh(request).await;
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
    let request = with_header("/healthz", "origin", "https://evil.example");
    let answer = send(router, request).await;
    assert!(answer.header("access-control-allow-origin").is_none());
}

async fn openapi_document() -> serde_json::Value {
    let answer = send_fresh(get("/openapi.json")).await;
    assert_eq!(answer.status, 200);
    answer.json()
}

/// Every documented answer as (`METHOD path`, status, answer).
fn documented_answers(doc: &serde_json::Value) -> Vec<(String, String, &serde_json::Value)> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for (status, answer) in operation["responses"].as_object().unwrap() {
                all.push((format!("{method} {path}"), status.clone(), answer));
            }
        }
    }
    all
}

#[tokio::test]
async fn openapi_marks_the_headers_the_server_always_sends_as_required() {
    let doc = openapi_document().await;
    let answers = documented_answers(&doc);
    let mut expected = vec![
        ("get /api/v1/tasks/{id}", "200", "ETag"),
        ("patch /api/v1/tasks/{id}", "200", "ETag"),
        ("post /api/v1/tasks", "201", "ETag"),
        ("post /api/v1/tasks", "201", "Location"),
        ("post /api/v1/auth/login", "429", "Retry-After"),
        ("get /readyz", "503", "Retry-After"),
    ];
    // Every 401 carries WWW-Authenticate, every 429 and 503 Retry-After.
    for (operation, status, _) in &answers {
        match status.as_str() {
            "401" => expected.push((operation, "401", "WWW-Authenticate")),
            "429" | "503" => expected.push((operation, status, "Retry-After")),
            _ => {}
        }
    }
    assert!(expected.len() > 15, "{expected:?}");
    for (operation, status, header) in expected {
        let (_, _, answer) = answers
            .iter()
            .find(|(o, s, _)| o == operation && s == status)
            .unwrap_or_else(|| panic!("{operation} does not document {status}"));
        assert_eq!(
            answer["headers"][header]["required"], true,
            "{header} not required on {status} of {operation}: {answer}"
        );
    }
    // Protected operations document their 401.
    let me_401 = answers
        .iter()
        .any(|(o, s, _)| o == "get /api/v1/auth/me" && s == "401");
    assert!(me_401, "GET /api/v1/auth/me lacks its 401");
}

#[tokio::test]
async fn openapi_retry_after_is_whole_seconds_of_at_least_one_everywhere() {
    let doc = openapi_document().await;
    let mut seen = 0;
    for (operation, status, answer) in documented_answers(&doc) {
        let Some(header) = answer["headers"].get("Retry-After") else {
            continue;
        };
        seen += 1;
        assert_eq!(
            header["schema"]["type"], "integer",
            "{status} of {operation}: {header}"
        );
        assert_eq!(
            header["schema"]["minimum"], 1,
            "{status} of {operation}: {header}"
        );
    }
    // One shared 503 per operation, plus login's 429.
    assert!(seen > 10, "only {seen} Retry-After headers");
}

#[tokio::test]
async fn openapi_optional_request_headers_are_text_never_null() {
    let doc = openapi_document().await;
    for (path, method, name) in [
        ("/api/v1/tasks/{id}", "patch", "If-Match"),
        ("/api/v1/tasks", "post", "Idempotency-Key"),
    ] {
        let parameter = doc["paths"][path][method]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name && p["in"] == "header")
            .unwrap_or_else(|| panic!("{method} {path} lacks {name}"));
        assert_eq!(parameter["required"], false, "{parameter}");
        assert_eq!(parameter["schema"]["type"], "string", "{parameter}");
    }
}

#[tokio::test]
async fn openapi_due_at_is_an_rfc3339_pattern_truncated_to_microseconds() {
    let doc = openapi_document().await;
    for body in ["CreateTaskRequest", "UpdateTaskRequest"] {
        let due_at = &doc["components"]["schemas"][body]["properties"]["due_at"];
        let pattern = due_at["pattern"].as_str().unwrap_or_default();
        // Anchored, so "" and other non-timestamps are outside the schema.
        assert!(
            pattern.starts_with('^') && pattern.ends_with('$'),
            "{due_at}"
        );
        assert!(
            due_at["description"]
                .as_str()
                .is_some_and(|d| d.contains("truncated to microseconds")),
            "{body}: {due_at}"
        );
        // The range the code enforces (domain::task::check_due_at).
        assert!(
            due_at["description"].as_str().is_some_and(|d| {
                d.contains("0000-01-01T00:00:00Z") && d.contains("9999-12-31T23:59:59.999999Z")
            }),
            "{body}: {due_at}"
        );
        assert!(pattern.starts_with("^[0-9]{4}-"), "{body}: {pattern}");
    }
}
