//! Typed request helpers for every endpoint of `shared/API.md`.
//!
//! Helpers return the raw [`reqwest::Response`] so tests can check statuses
//! and headers; [`Api::new_user`] and [`Api::new_task`] are the shortcuts for
//! the common "I just need a user / a task" steps and fail loudly otherwise.

use std::sync::{Arc, Mutex};

use reqwest::header::{CONTENT_TYPE, IF_MATCH};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

/// A fresh address no other test uses, recognisable as test data.
pub fn unique_email() -> String {
    format!("e2e-{}@example.com", Uuid::new_v4().simple())
}

/// A fresh valid password (8 to 128 characters).
pub fn unique_password() -> String {
    format!("pw-{}", Uuid::new_v4().simple())
}

/// A task as the API returns it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Task {
    pub id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub completed: bool,
    pub priority: String,
    pub due_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
}

/// One page of `GET /api/v1/tasks`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TaskPage {
    pub items: Vec<Task>,
    pub next_cursor: Option<String>,
}

/// A registered, logged-in user.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: Uuid,
    pub email: String,
    pub password: String,
    pub token: String,
}

/// An HTTP client bound to one running server. Cheap to clone (for
/// concurrent requests from spawned tasks); every email it registers is
/// remembered so the owning [`crate::TestApp`] can delete those users.
#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
    registered: Arc<Mutex<Vec<String>>>,
}

impl Api {
    pub(crate) fn new(port: u16) -> Self {
        Self {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("the HTTP client builds"),
            base: base_url(port),
            registered: Arc::default(),
        }
    }

    pub(crate) fn point_at(&mut self, port: u16) {
        self.base = base_url(port);
    }

    pub(crate) fn registered_emails(&self) -> Vec<String> {
        self.registered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn remember(&self, email: &str) {
        self.registered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(email.to_owned());
    }

    /// `http://127.0.0.1:<port>`.
    pub fn address(&self) -> &str {
        &self.base
    }

    /// A request to `path` (which starts with `/`), for anything the typed
    /// helpers do not cover (raw bodies, odd headers).
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    /// `POST /api/v1/auth/register` with any JSON body.
    pub async fn register_json(&self, body: &Value) -> Response {
        if let Some(email) = body.get("email").and_then(Value::as_str) {
            self.remember(email);
        }
        send(
            self.request(Method::POST, "/api/v1/auth/register")
                .json(body),
        )
        .await
    }

    /// `POST /api/v1/auth/register` with an email and a password.
    pub async fn register(&self, email: &str, password: &str) -> Response {
        self.register_json(&json!({"email": email, "password": password}))
            .await
    }

    /// `POST /api/v1/auth/login`.
    pub async fn login(&self, email: &str, password: &str) -> Response {
        send(
            self.request(Method::POST, "/api/v1/auth/login")
                .json(&json!({"email": email, "password": password})),
        )
        .await
    }

    /// `POST /api/v1/auth/logout`.
    pub async fn logout(&self, token: &str) -> Response {
        send(
            self.request(Method::POST, "/api/v1/auth/logout")
                .bearer_auth(token),
        )
        .await
    }

    /// `GET /api/v1/auth/me`.
    pub async fn me(&self, token: &str) -> Response {
        send(
            self.request(Method::GET, "/api/v1/auth/me")
                .bearer_auth(token),
        )
        .await
    }

    /// `POST /api/v1/tasks`.
    pub async fn create_task(&self, token: &str, body: &Value) -> Response {
        send(
            self.request(Method::POST, "/api/v1/tasks")
                .bearer_auth(token)
                .json(body),
        )
        .await
    }

    /// `POST /api/v1/tasks` with an `Idempotency-Key`.
    pub async fn create_task_with_key(&self, token: &str, key: &str, body: &Value) -> Response {
        send(
            self.request(Method::POST, "/api/v1/tasks")
                .bearer_auth(token)
                .header("Idempotency-Key", key)
                .json(body),
        )
        .await
    }

    /// `GET /api/v1/tasks` with query parameters.
    pub async fn list_tasks(&self, token: &str, query: &[(&str, &str)]) -> Response {
        send(
            self.request(Method::GET, "/api/v1/tasks")
                .bearer_auth(token)
                .query(query),
        )
        .await
    }

    /// `GET /api/v1/tasks/{id}`.
    pub async fn get_task(&self, token: &str, id: &str) -> Response {
        send(
            self.request(Method::GET, &format!("/api/v1/tasks/{id}"))
                .bearer_auth(token),
        )
        .await
    }

    /// `PATCH /api/v1/tasks/{id}`, with `If-Match: "<version>"` when given.
    pub async fn patch_task(
        &self,
        token: &str,
        id: &str,
        body: &Value,
        if_match: Option<i64>,
    ) -> Response {
        let mut request = self
            .request(Method::PATCH, &format!("/api/v1/tasks/{id}"))
            .bearer_auth(token)
            .json(body);
        if let Some(version) = if_match {
            request = request.header(IF_MATCH, format!("\"{version}\""));
        }
        send(request).await
    }

    /// `DELETE /api/v1/tasks/{id}`.
    pub async fn delete_task(&self, token: &str, id: &str) -> Response {
        send(
            self.request(Method::DELETE, &format!("/api/v1/tasks/{id}"))
                .bearer_auth(token),
        )
        .await
    }

    /// A `POST` with a raw body and content type (for 400, 413 and 415).
    pub async fn post_raw(
        &self,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        let mut request = self.request(Method::POST, path).body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(content_type) = content_type {
            request = request.header(CONTENT_TYPE, content_type);
        }
        send(request).await
    }

    /// Registers a fresh user and logs in.
    ///
    /// # Panics
    /// When either call does not succeed.
    pub async fn new_user(&self) -> TestUser {
        let email = unique_email();
        let password = unique_password();
        let user = expect_json(self.register(&email, &password).await, StatusCode::CREATED).await;
        let id = user["id"]
            .as_str()
            .and_then(|id| Uuid::parse_str(id).ok())
            .unwrap_or_else(|| panic!("register answered without a UUID id: {user}"));
        let login = expect_json(self.login(&email, &password).await, StatusCode::OK).await;
        let token = login["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("login answered without an access_token: {login}"))
            .to_owned();
        TestUser {
            id,
            email,
            password,
            token,
        }
    }

    /// Creates a task for `user`.
    ///
    /// # Panics
    /// When the answer is not 201 with a task.
    pub async fn new_task(&self, user: &TestUser, body: &Value) -> Task {
        let task = expect_json(
            self.create_task(&user.token, body).await,
            StatusCode::CREATED,
        )
        .await;
        serde_json::from_value(task.clone()).unwrap_or_else(|e| {
            panic!("POST /api/v1/tasks answered an unexpected body ({e}): {task}")
        })
    }

    /// Fetches `GET /api/v1/tasks` page by page until `next_cursor` is null.
    ///
    /// # Panics
    /// On any answer other than 200 with a page.
    pub async fn all_pages(&self, user: &TestUser, query: &[(&str, &str)]) -> Vec<TaskPage> {
        let mut pages = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut params: Vec<(&str, &str)> = query.to_vec();
            if let Some(cursor) = cursor.as_deref() {
                params.push(("cursor", cursor));
            }
            let page = self.task_page(user, &params).await;
            cursor = page.next_cursor.clone();
            pages.push(page);
            if cursor.is_none() {
                return pages;
            }
            assert!(pages.len() < 10_000, "paging does not end");
        }
    }

    /// One page of `GET /api/v1/tasks`.
    ///
    /// # Panics
    /// On any answer other than 200 with a page.
    pub async fn task_page(&self, user: &TestUser, query: &[(&str, &str)]) -> TaskPage {
        let page = expect_json(self.list_tasks(&user.token, query).await, StatusCode::OK).await;
        serde_json::from_value(page.clone()).unwrap_or_else(|e| {
            panic!("GET /api/v1/tasks answered an unexpected body ({e}): {page}")
        })
    }
}

fn base_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

async fn send(request: RequestBuilder) -> Response {
    request
        .send()
        .await
        .unwrap_or_else(|e| panic!("the request failed to get an answer: {e}"))
}

/// Checks the status and returns the JSON body (`Value::Null` when empty).
///
/// # Panics
/// On another status (showing the body) or a body that is not JSON.
pub async fn expect_json(response: Response, status: StatusCode) -> Value {
    let got = response.status();
    let url = response.url().path().to_owned();
    let text = response.text().await.expect("the body can be read");
    assert_eq!(
        got, status,
        "{url}: expected {status}, got {got} with body {text}"
    );
    if text.is_empty() {
        return Value::Null;
    }
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{url}: the body is not JSON ({e}): {text}"))
}

/// Checks that `response` is an RFC 9457 problem with `status` and returns
/// its body.
///
/// # Panics
/// On another status, another content type, or a body whose `status`
/// differs.
pub async fn expect_problem(response: Response, status: StatusCode) -> Value {
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let url = response.url().path().to_owned();
    let body = expect_json(response, status).await;
    assert!(
        content_type.starts_with("application/problem+json"),
        "{url}: a {status} must be application/problem+json, got content type `{content_type}` with body {body}"
    );
    assert_eq!(
        body["status"].as_u64(),
        Some(u64::from(status.as_u16())),
        "{url}: the problem body's status must be {status}: {body}"
    );
    assert!(
        body["title"].is_string(),
        "{url}: the problem body needs a title: {body}"
    );
    body
}
