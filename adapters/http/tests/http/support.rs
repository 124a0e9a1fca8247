//! A router over mockall ports, and helpers to send requests to it.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use adapter_http::{router, HttpSettings};
use application::ports::{PoolStats, Readiness, RepoError};
use application::testkit::{self, FixedReadiness};
use async_trait::async_trait;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use domain::{Task, User};
use http_body_util::BodyExt;
use tower::ServiceExt;

pub use application::testkit::{principal, t0, TOKEN};

/// The harness's stored user (the one [`TOKEN`] names).
pub fn user() -> User {
    testkit::user().build()
}

/// The harness's stored task: "Buy milk", 2 litres, high, version 1.
pub fn task() -> Task {
    testkit::task().build()
}

/// Readiness that answers `ready` after `delay`, for timeout tests.
pub struct FakeReadiness {
    pub ready: bool,
    pub delay: Duration,
}

#[async_trait]
impl Readiness for FakeReadiness {
    async fn database_ready(&self) -> bool {
        tokio::time::sleep(self.delay).await;
        self.ready
    }

    fn pool_stats(&self) -> PoolStats {
        FixedReadiness::default().pool
    }
}

/// The application's test harness (every port mocked, the clock fixed at
/// `t0()`, `TOKEN` accepted, logins allowed), plus what HTTP adds: the
/// adapter's settings and a readiness whose answer can be delayed.
/// Expectations go on the mocks through `Deref` (`h.tasks.expect_…`).
pub struct Harness {
    core: testkit::Harness,
    pub readiness: FakeReadiness,
    pub settings: HttpSettings,
}

impl Deref for Harness {
    type Target = testkit::Harness;

    fn deref(&self) -> &Self::Target {
        &self.core
    }
}

impl DerefMut for Harness {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.core
    }
}

impl Harness {
    pub fn new() -> Self {
        Self {
            core: testkit::Harness::new().accepting_token().allowing_logins(),
            readiness: FakeReadiness {
                ready: true,
                delay: Duration::ZERO,
            },
            settings: HttpSettings {
                request_timeout: Duration::from_secs(30),
                ..HttpSettings::default()
            },
        }
    }

    /// Sends a GET of `uri` with the valid bearer token to this harness's router.
    pub async fn get_authed(self, uri: &str) -> Answer {
        send(self.router(), empty(authed("GET", uri))).await
    }

    pub fn router(self) -> Router {
        let mut core = self.core;
        core.readiness = Arc::new(self.readiness);
        router(core.services(), self.settings)
    }
}

/// An answer, fully read.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or("")
    }

    /// Asserts this status (showing the body if not), and returns the JSON body.
    pub fn json_with_status(&self, status: u16) -> serde_json::Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        self.json()
    }

    /// Asserts an RFC 9457 problem with this status that carries header
    /// `name` set to `value`.
    pub fn problem_with_header(&self, status: u16, name: &str, value: &str) {
        self.problem(status);
        assert_eq!(self.header(name), Some(value), "header {name}");
    }

    /// Asserts an RFC 9457 problem with this status, and returns it.
    pub fn problem(&self, status: u16) -> serde_json::Value {
        let body = self.json_with_status(status);
        assert_eq!(self.content_type(), "application/problem+json");
        assert_eq!(body["type"], "about:blank");
        assert_eq!(body["status"], status);
        assert!(body["title"].is_string(), "{body}");
        assert!(body["detail"].is_string(), "{body}");
        body
    }
}

pub async fn send(router: Router, request: Request<Body>) -> Answer {
    let response = router.oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

/// A request with the valid bearer token.
pub fn authed(method: &str, uri: &str) -> axum::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {TOKEN}"))
}

pub fn json_request(builder: axum::http::request::Builder, body: impl Into<Body>) -> Request<Body> {
    builder
        .header("content-type", "application/json")
        .body(body.into())
        .unwrap()
}

pub fn empty(builder: axum::http::request::Builder) -> Request<Body> {
    builder.body(Body::empty()).unwrap()
}

/// Sends `request` to a router over a fresh [`Harness`] (no expectations).
pub async fn send_fresh(request: Request<Body>) -> Answer {
    send(Harness::new().router(), request).await
}

/// A body-less request to `uri` with one extra header.
pub fn with_header(uri: &str, name: &str, value: &str) -> Request<Body> {
    Request::builder()
        .uri(uri)
        .header(name, value)
        .body(Body::empty())
        .unwrap()
}

/// The `field` of each entry of a problem's `errors`, in order.
pub fn error_fields(problem: &serde_json::Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect()
}

/// The repository error for a database that is down for `retry_after`.
pub fn unavailable(retry_after: Duration) -> RepoError {
    RepoError::Unavailable { retry_after }
}

/// `Ok(())` the first time, then `fail()`: a write that works once (a
/// delete, a logout) and finds nothing left to do after.
pub fn ok_once_then(fail: fn() -> RepoError) -> impl FnMut() -> Result<(), RepoError> {
    let mut done = false;
    move || {
        if std::mem::replace(&mut done, true) {
            Err(fail())
        } else {
            Ok(())
        }
    }
}
