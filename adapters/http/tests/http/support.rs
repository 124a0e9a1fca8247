//! A router over mockall ports, and helpers to send requests to it.

use std::sync::Arc;
use std::time::Duration;

use adapter_http::{router, HttpSettings, PoolStats, Readiness, Services};
use application::ports::{
    MockClock, MockLoginLimiter, MockPasswordHasher, MockSessionRepo, MockTaskRepo,
    MockTokenService, MockUserRepo, Principal, TokenError,
};
use application::use_cases::{AuthService, TaskService};
use async_trait::async_trait;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use chrono::TimeZone;
use domain::{
    Description, Email, NewTask, PasswordHash, Priority, SessionId, Task, Timestamp, Title, User,
    UserId,
};
use http_body_util::BodyExt;
use tower::ServiceExt;

pub const TOKEN: &str = "valid-token";

pub fn t0() -> Timestamp {
    chrono::Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

pub fn principal() -> Principal {
    Principal {
        user_id: UserId::from_uuid(uuid::Uuid::from_u128(
            0x0192_0000_0000_7000_8000_0000_0000_0001,
        )),
        session_id: SessionId::from_uuid(uuid::Uuid::from_u128(
            0x0192_0000_0000_7000_8000_0000_0000_0002,
        )),
    }
}

pub fn user() -> User {
    let mut user = User::register(
        Email::parse("ada@example.com").unwrap(),
        None,
        PasswordHash::new("$argon2id$stored".to_owned()),
        t0(),
    );
    user.id = principal().user_id;
    user
}

pub fn task() -> Task {
    NewTask {
        title: Title::parse("Buy milk").unwrap(),
        description: Some(Description::parse("2 litres").unwrap()),
        completed: false,
        priority: Priority::High,
        due_at: None,
    }
    .into_task(principal().user_id, t0())
}

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
        PoolStats {
            size: 7,
            available: 3,
            waiting: 2,
            max_size: 15,
        }
    }
}

/// The mocked ports. `new` installs what nearly every test needs (a fixed
/// clock, `TOKEN` as the only valid token, a permissive login limiter);
/// tests add expectations or replace a mock before calling `router`.
pub struct Harness {
    pub users: MockUserRepo,
    pub sessions: MockSessionRepo,
    pub hasher: MockPasswordHasher,
    pub tokens: MockTokenService,
    pub limiter: MockLoginLimiter,
    pub tasks: MockTaskRepo,
    pub readiness: FakeReadiness,
    pub settings: HttpSettings,
}

impl Harness {
    pub fn new() -> Self {
        let mut tokens = MockTokenService::new();
        tokens.expect_verify().returning(|token, _| {
            if token == TOKEN {
                Ok(principal())
            } else {
                Err(TokenError::Invalid)
            }
        });
        let mut limiter = MockLoginLimiter::new();
        limiter
            .expect_reserve()
            .returning(|_, _, now| Ok(any_reservation(now)));
        limiter.expect_release().returning(|_| Ok(()));
        limiter.expect_succeeded().returning(|_| Ok(()));
        Self {
            users: MockUserRepo::new(),
            sessions: MockSessionRepo::new(),
            hasher: {
                let mut hasher = MockPasswordHasher::new();
                hasher.expect_busy().return_const(None);
                hasher
            },
            tokens,
            limiter,
            tasks: MockTaskRepo::new(),
            readiness: FakeReadiness {
                ready: true,
                delay: Duration::ZERO,
            },
            settings: HttpSettings {
                request_timeout: Duration::from_secs(30),
                body_limit_bytes: 64 * 1024,
                cors_allowed_origins: Vec::new(),
                trust_forwarded_for: false,
            },
        }
    }

    pub fn router(self) -> Router {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(t0());
        let clock = Arc::new(clock);
        let auth = AuthService::new(
            Arc::new(self.users),
            Arc::new(self.sessions),
            Arc::new(self.hasher),
            Arc::new(self.tokens),
            clock.clone(),
            Arc::new(self.limiter),
            chrono::Duration::hours(1),
        );
        let tasks = TaskService::new(Arc::new(self.tasks), clock);
        router(
            Services {
                auth: Arc::new(auth),
                tasks: Arc::new(tasks),
                readiness: Arc::new(self.readiness),
            },
            self.settings,
        )
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

    /// Asserts an RFC 9457 problem with this status, and returns it.
    pub fn problem(&self, status: u16) -> serde_json::Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.content_type(), "application/problem+json");
        let body = self.json();
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

/// A reservation as a permissive limiter hands out.
pub fn any_reservation(now: domain::Timestamp) -> application::ports::Reservation {
    let slot = |byte| application::ports::Slot {
        key: [byte; 32],
        at: now,
    };
    application::ports::Reservation {
        email: slot(1),
        client: Some(slot(2)),
    }
}
