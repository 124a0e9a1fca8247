//! Malformed and hostile requests: each gets a 4xx problem, never a 5xx,
//! and the use cases are never reached (the mocks have no expectations, so
//! reaching one would panic and answer 500).

use axum::body::Body;
use axum::http::Request;

use crate::support::*;

fn create_with(content_type: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut builder = authed("POST", "/api/v1/tasks");
    if let Some(value) = content_type {
        builder = builder.header("content-type", value);
    }
    builder.body(body.into()).unwrap()
}

#[tokio::test]
async fn a_missing_or_wrong_content_type_is_415() {
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let answer = send_fresh(create_with(content_type, r#"{"title": "x"}"#)).await;
        answer.problem(415);
    }
}

#[tokio::test]
async fn a_compressed_body_or_a_charset_other_than_utf8_is_415() {
    for (content_type, encoding) in [
        ("application/json; charset=iso-8859-1", None),
        ("application/json; charset=utf-16le", None),
        ("application/json", Some("gzip")),
        ("application/json", Some("identity, deflate")),
    ] {
        let mut builder = authed("POST", "/api/v1/tasks").header("content-type", content_type);
        if let Some(encoding) = encoding {
            builder = builder.header("content-encoding", encoding);
        }
        let request = builder.body(Body::from(r#"{"title": "x"}"#)).unwrap();
        send_fresh(request).await.problem(415);
    }
}

#[tokio::test]
async fn a_key_given_twice_in_a_body_is_400() {
    for body in [
        r#"{"title": "", "title": "ok"}"#,
        r#"{"title": "ok", "priority": "low", "priority": "high"}"#,
    ] {
        let answer = send_fresh(create_with(Some("application/json"), body)).await;
        let problem = answer.problem(400);
        assert!(
            problem["detail"].as_str().unwrap().contains("key twice"),
            "{problem}"
        );
    }
}

#[tokio::test]
async fn a_cursor_with_an_instant_postgresql_cannot_hold_is_422_before_the_repo() {
    // 250 000 BC: chrono holds it, PostgreSQL's timestamptz does not.
    let mut tampered = task();
    tampered.created_at =
        chrono::DateTime::from_timestamp_micros(-8_000_000_000_000_000_000).unwrap();
    let cursor = domain::Cursor::after(&tampered, domain::TaskSort::CreatedDesc).encode();
    let answer = send_fresh(empty(authed(
        "GET",
        &format!("/api/v1/tasks?cursor={cursor}"),
    )))
    .await;
    assert_eq!(answer.problem(422)["errors"][0]["field"], "cursor");
}

#[tokio::test]
async fn a_due_at_outside_the_four_digit_years_in_utc_is_422() {
    for due_at in ["9999-12-31T23:30:00-01:00", "0000-01-01T00:00:00+00:01"] {
        let answer = send_fresh(create_with(
            Some("application/json"),
            serde_json::json!({"title": "x", "due_at": due_at}).to_string(),
        ))
        .await;
        assert_eq!(
            answer.problem(422)["errors"][0]["field"],
            "due_at",
            "{due_at}"
        );
    }
}

#[tokio::test]
async fn malformed_json_is_400() {
    for body in [
        &b"{\"title\": "[..],
        b"{title: 'x'}",
        b"",
        b"{\"title\": \"x\"} trailing",
        b"\xff\xfe{\"title\": \"x\"}",
        b"{\"title\": \"\xc3\x28\"}",
    ] {
        let answer = send_fresh(create_with(Some("application/json"), body.to_vec())).await;
        answer.problem(400);
    }
}

#[tokio::test]
async fn wrong_json_types_are_422_naming_the_field() {
    for (body, field) in [
        (r#"{"title": 5}"#, "title"),
        (r#"{"title": "x", "completed": "yes"}"#, "completed"),
        (r#"{"title": ["x"]}"#, "title"),
        (r#"["x"]"#, "body"),
        (r#""just a string""#, "body"),
    ] {
        let answer = send_fresh(create_with(Some("application/json"), body)).await;
        assert_eq!(answer.problem(422)["errors"][0]["field"], field, "{body}");
    }
}

#[tokio::test]
async fn a_body_over_64_kib_is_413() {
    let big = format!(r#"{{"title": "{}"}}"#, "x".repeat(70 * 1024));
    let answer = send_fresh(create_with(Some("application/json"), big)).await;
    answer.problem(413);

    // Also when the length is not announced up front.
    let chunks = futures_chunks(70 * 1024);
    let answer = send_fresh(create_with(Some("application/json"), chunks)).await;
    answer.problem(413);
}

/// A streamed body without `Content-Length`.
fn futures_chunks(total: usize) -> Body {
    let chunk = axum::body::Bytes::from(vec![b' '; 1024]);
    let stream = tokio_stream_of(chunk, total / 1024);
    Body::from_stream(stream)
}

fn tokio_stream_of(
    chunk: axum::body::Bytes,
    count: usize,
) -> impl futures_core::Stream<Item = Result<axum::body::Bytes, std::io::Error>> {
    struct Repeat(axum::body::Bytes, usize);
    impl futures_core::Stream for Repeat {
        type Item = Result<axum::body::Bytes, std::io::Error>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            if self.1 == 0 {
                return std::task::Poll::Ready(None);
            }
            self.1 -= 1;
            std::task::Poll::Ready(Some(Ok(self.0.clone())))
        }
    }
    Repeat(chunk, count)
}

#[tokio::test]
async fn deeply_nested_json_is_a_4xx() {
    for depth in [200, 20_000] {
        for body in [
            format!(r#"{{"title": {}{}}}"#, "[".repeat(depth), "]".repeat(depth)),
            format!(
                r#"{{"unknown": {}{}, "title": "x"}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            ),
            format!("{}{}", "[".repeat(depth), "]".repeat(depth)),
        ] {
            let answer = send_fresh(create_with(Some("application/json"), body)).await;
            assert!(answer.status.is_client_error(), "{}", answer.status);
            assert_eq!(answer.content_type(), "application/problem+json");
        }
    }
}

#[tokio::test]
async fn huge_numbers_are_a_4xx() {
    for body in [
        r#"{"title": "x", "completed": 1e400}"#,
        r#"{"title": "x", "completed": 123456789012345678901234567890}"#,
        r#"{"title": 1e999}"#,
        r#"{"title": "x", "unknown": 1e999}"#,
    ] {
        let answer = send_fresh(create_with(Some("application/json"), body)).await;
        assert!(answer.status.is_client_error(), "{body}: {}", answer.status);
        assert_eq!(answer.content_type(), "application/problem+json");
    }
}

#[tokio::test]
async fn nul_in_a_title_is_422() {
    let answer = send_fresh(create_with(
        Some("application/json"),
        r#"{"title": "a\u0000b"}"#,
    ))
    .await;
    assert_eq!(answer.problem(422)["errors"][0]["field"], "title");
}

#[tokio::test]
async fn nul_in_a_name_is_422_at_registration() {
    let request = Request::builder()
        .method("POST")
        .uri("/api/v1/auth/register")
        .header("content-type", "application/json")
        .body(Body::from(
            r#"{"email": "a@x.io", "password": "12345678", "name": "a\u0000"}"#,
        ))
        .unwrap();
    let answer = send_fresh(request).await;
    assert_eq!(answer.problem(422)["errors"][0]["field"], "name");
}

#[tokio::test]
async fn very_long_or_binary_headers_are_a_4xx() {
    let long = "x".repeat(60_000);
    let request = Request::builder()
        .method("PATCH")
        .uri(format!("/api/v1/tasks/{}", task().id))
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .header("if-match", long.as_str())
        .header("x-request-id", long.as_str())
        .body(Body::from("{}"))
        .unwrap();
    let answer = send_fresh(request).await;
    answer.problem(431);
    assert_ne!(answer.header("x-request-id").unwrap(), long);

    let binary = axum::http::HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap();
    let request = Request::builder()
        .uri("/api/v1/auth/me")
        .header("authorization", binary)
        .body(Body::empty())
        .unwrap();
    send_fresh(request).await.problem(401);
}

#[tokio::test]
async fn a_path_id_with_bad_percent_escapes_is_404() {
    let answer = send_fresh(empty(authed("GET", "/api/v1/tasks/%ff%fe"))).await;
    answer.problem(404);
}

#[tokio::test]
async fn an_unknown_route_is_a_404_problem_and_a_wrong_method_a_405_problem() {
    let answer = send_fresh(empty(authed("GET", "/api/v1/nope"))).await;
    answer.problem(404);
    assert!(answer.header("x-request-id").is_some());

    let answer = send_fresh(empty(authed("PUT", "/api/v1/tasks"))).await;
    answer.problem(405);
    let allow = answer
        .header("allow")
        .expect("405 names the allowed methods");
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    let answer = send_fresh(empty(authed("DELETE", "/healthz"))).await;
    answer.problem(405);
}

#[tokio::test]
async fn array_bodies_are_422_not_fields_by_position() {
    let id = "01934b6e-0000-7000-8000-000000000000";
    for (method, uri, body, authed_request) in [
        ("PATCH", format!("/api/v1/tasks/{id}"), "[]", true),
        (
            "PATCH",
            format!("/api/v1/tasks/{id}"),
            r#"["new title"]"#,
            true,
        ),
        (
            "POST",
            "/api/v1/auth/login".to_owned(),
            r#"["x@example.com", "password123"]"#,
            false,
        ),
        (
            "POST",
            "/api/v1/auth/register".to_owned(),
            r#"["x@example.com", "password123"]"#,
            false,
        ),
    ] {
        let builder = if authed_request {
            authed(method, &uri)
        } else {
            Request::builder().method(method).uri(&uri)
        };
        let request = builder
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap();
        let answer = send_fresh(request).await;
        assert_eq!(
            answer.problem(422)["errors"][0]["field"],
            "body",
            "{method} {uri} {body}"
        );
    }
}
