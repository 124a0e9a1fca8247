//! Typed request helpers for every endpoint of `shared/API.md`.
//!
//! Helpers return the raw [`reqwest::Response`] so tests can check statuses
//! and headers; [`Api::new_user`] and [`Api::new_task`] are the shortcuts for
//! the common "I just need a user / a task" steps and fail loudly otherwise.

use std::sync::{Arc, Mutex};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, IF_MATCH, WWW_AUTHENTICATE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

const REGISTER: &str = "/api/v1/auth/register";
const LOGIN: &str = "/api/v1/auth/login";
const TASKS: &str = "/api/v1/tasks";

fn loopback(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

fn task_path(id: &str) -> String {
    format!("{TASKS}/{id}")
}

fn credentials(email: &str, password: &str) -> Value {
    json!({"email": email, "password": password})
}

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
    /// A client of the server on `127.0.0.1:<port>`.
    pub(crate) fn new(port: u16) -> Self {
        Self::at(loopback(port))
    }

    /// A client of the server at `base` (`http://host:port`).
    pub(crate) fn at(base: String) -> Self {
        Self {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("the HTTP client builds"),
            base,
            registered: Arc::default(),
        }
    }

    /// Aims this client at the server on `127.0.0.1:<port>`.
    pub(crate) fn point_at(&mut self, port: u16) {
        self.base = loopback(port);
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

    /// `http://127.0.0.1:<port>` (or `E2E_SERVER_URL`).
    pub fn address(&self) -> &str {
        &self.base
    }

    /// A request to `path` (which starts with `/`), for anything the typed
    /// helpers do not cover (raw bodies, odd headers).
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    /// A request with `Authorization: Bearer <token>`.
    fn authed(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.request(method, path).bearer_auth(token)
    }

    /// `GET path` with `authorization` as the raw `Authorization` header,
    /// or none.
    pub async fn get_with_authorization(
        &self,
        path: &str,
        authorization: Option<&str>,
    ) -> Response {
        let mut request = self.request(Method::GET, path);
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value);
        }
        send(request).await
    }

    /// `POST /api/v1/auth/register` with any JSON body.
    pub async fn register_json(&self, body: &Value) -> Response {
        if let Some(email) = body.get("email").and_then(Value::as_str) {
            self.remember(email);
        }
        send(self.request(Method::POST, REGISTER).json(body)).await
    }

    /// `POST /api/v1/auth/register` with an email and a password.
    pub async fn register(&self, email: &str, password: &str) -> Response {
        self.register_json(&credentials(email, password)).await
    }

    /// `POST /api/v1/auth/login`.
    pub async fn login(&self, email: &str, password: &str) -> Response {
        let body = credentials(email, password);
        send(self.request(Method::POST, LOGIN).json(&body)).await
    }

    /// `POST /api/v1/auth/logout`.
    pub async fn logout(&self, token: &str) -> Response {
        send(self.authed(Method::POST, "/api/v1/auth/logout", token)).await
    }

    /// `GET /api/v1/auth/me`.
    pub async fn me(&self, token: &str) -> Response {
        send(self.authed(Method::GET, "/api/v1/auth/me", token)).await
    }

    /// `POST /api/v1/tasks`.
    pub async fn create_task(&self, token: &str, body: &Value) -> Response {
        send(self.authed(Method::POST, TASKS, token).json(body)).await
    }

    /// `POST /api/v1/tasks` with an `Idempotency-Key`.
    pub async fn create_task_with_key(&self, token: &str, key: &str, body: &Value) -> Response {
        let request = self.authed(Method::POST, TASKS, token);
        send(request.header("Idempotency-Key", key).json(body)).await
    }

    /// `GET /api/v1/tasks` with query parameters.
    pub async fn list_tasks(&self, token: &str, query: &[(&str, &str)]) -> Response {
        send(self.authed(Method::GET, TASKS, token).query(query)).await
    }

    /// `GET /api/v1/tasks/{id}`.
    pub async fn get_task(&self, token: &str, id: &str) -> Response {
        send(self.authed(Method::GET, &task_path(id), token)).await
    }

    /// `PATCH /api/v1/tasks/{id}`, with `If-Match: "<version>"` when given.
    pub async fn patch_task(
        &self,
        token: &str,
        id: &str,
        body: &Value,
        if_match: Option<i64>,
    ) -> Response {
        let request = self.authed(Method::PATCH, &task_path(id), token).json(body);
        match if_match {
            Some(version) => send(request.header(IF_MATCH, format!("\"{version}\""))).await,
            None => send(request).await,
        }
    }

    /// `PATCH /api/v1/tasks/{id}` with `If-Match` exactly as given (to send
    /// malformed ones).
    pub async fn patch_task_if_match(
        &self,
        token: &str,
        id: &str,
        body: &Value,
        if_match: &str,
    ) -> Response {
        let request = self.authed(Method::PATCH, &task_path(id), token).json(body);
        send(request.header(IF_MATCH, if_match)).await
    }

    /// `DELETE /api/v1/tasks/{id}`.
    pub async fn delete_task(&self, token: &str, id: &str) -> Response {
        send(self.authed(Method::DELETE, &task_path(id), token)).await
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

    /// `POST /api/v1/tasks` for `user` with a raw body and content type.
    pub async fn post_task_raw(
        &self,
        user: &TestUser,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        self.post_raw(TASKS, Some(&user.token), Some(content_type), body)
            .await
    }

    /// Registers `email` with `password`.
    ///
    /// # Panics
    /// When the answer is not 201; returns its body.
    pub async fn registered(&self, email: &str, password: &str) -> Value {
        expect_json(self.register(email, password).await, StatusCode::CREATED).await
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
        let token = self.login_token(&email, &password).await;
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
        let response = self.create_task(&user.token, body).await;
        let task = expect_json(response, StatusCode::CREATED).await;
        serde_json::from_value(task.clone()).unwrap_or_else(|e| {
            panic!("POST /api/v1/tasks answered an unexpected body ({e}): {task}")
        })
    }

    /// `POST /api/v1/tasks` for `user` with an `Idempotency-Key`.
    ///
    /// # Panics
    /// When the answer is not 201; returns its body.
    pub async fn created_with_key(&self, user: &TestUser, key: &str, body: &Value) -> Value {
        let response = self.create_task_with_key(&user.token, key, body).await;
        expect_json(response, StatusCode::CREATED).await
    }

    /// `PATCH /api/v1/tasks/{id}` for `user`.
    ///
    /// # Panics
    /// When the answer is not 200; returns its body.
    pub async fn patched(
        &self,
        user: &TestUser,
        id: impl std::fmt::Display,
        body: &Value,
        if_match: Option<i64>,
    ) -> Value {
        let id = id.to_string();
        let response = self.patch_task(&user.token, &id, body, if_match).await;
        expect_json(response, StatusCode::OK).await
    }

    /// Logs in and returns the new access token.
    ///
    /// # Panics
    /// When the answer is not 200 with a token.
    pub async fn login_token(&self, email: &str, password: &str) -> String {
        let login = expect_json(self.login(email, password).await, StatusCode::OK).await;
        login["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("login answered without an access_token: {login}"))
            .to_owned()
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

pub(crate) async fn send(request: RequestBuilder) -> Response {
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

/// Checks a 401 problem with `WWW-Authenticate: Bearer`; `what` names the
/// request in the failure message. Returns the problem body.
///
/// # Panics
/// On another status (showing the body), no challenge, or no problem body.
pub async fn expect_unauthorized(response: Response, what: &str) -> Value {
    let challenge = response
        .headers()
        .get(WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let status = response.status();
    if status != StatusCode::UNAUTHORIZED {
        let body = response.text().await.unwrap_or_default();
        panic!("{what}: expected 401, got {status} with body {body}");
    }
    let body = expect_problem(response, StatusCode::UNAUTHORIZED).await;
    assert!(
        challenge
            .as_deref()
            .is_some_and(|c| c.starts_with("Bearer")),
        "{what}: a 401 carries `WWW-Authenticate: Bearer`, got {challenge:?}"
    );
    body
}
