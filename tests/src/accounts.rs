//! Request helpers for the v1 account additions (refresh, sessions,
//! logout scopes, password change, export, deletion, events), as an
//! extension of [`Api`] so `api.rs` stays as it is.

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::api::{expect_json, send, Api};

/// A login's or a refresh's answer: the pair of tokens.
#[derive(Debug, Clone)]
pub struct Pair {
    pub access_token: String,
    pub refresh_token: String,
    pub body: Value,
}

impl Pair {
    /// # Panics
    /// When the body lacks either token.
    pub fn of(body: Value) -> Self {
        let field = |name: &str| {
            body[name]
                .as_str()
                .unwrap_or_else(|| panic!("no {name} in {body}"))
                .to_owned()
        };
        Self {
            access_token: field("access_token"),
            refresh_token: field("refresh_token"),
            body: body.clone(),
        }
    }
}

/// The account endpoints of `shared/API.md` "Accounts and sessions".
#[allow(async_fn_in_trait)]
pub trait AccountApi {
    /// `POST /api/v1/auth/login` with a `User-Agent`, expecting 200.
    async fn login_pair(&self, email: &str, password: &str, user_agent: &str) -> Pair;
    /// `POST /api/v1/auth/refresh`.
    async fn refresh(&self, refresh_token: &str) -> Response;
    /// `GET /api/v1/auth/sessions`.
    async fn sessions(&self, token: &str) -> Response;
    /// `DELETE /api/v1/auth/sessions/{id}`.
    async fn revoke_session(&self, token: &str, id: &str) -> Response;
    /// `POST /api/v1/auth/logout?scope=…`.
    async fn logout_scope(&self, token: &str, scope: &str) -> Response;
    /// `POST /api/v1/auth/password`.
    async fn change_password(&self, token: &str, current: &str, new: &str) -> Response;
    /// `GET /api/v1/auth/me/export`.
    async fn export(&self, token: &str) -> Response;
    /// `DELETE /api/v1/auth/me`.
    async fn delete_me(&self, token: &str, password: &str) -> Response;
    /// `GET /api/v1/auth/events` with a query.
    async fn events(&self, token: &str, query: &[(&str, &str)]) -> Response;
}

impl AccountApi for Api {
    async fn login_pair(&self, email: &str, password: &str, user_agent: &str) -> Pair {
        let response = send(
            self.request(Method::POST, "/api/v1/auth/login")
                .header(reqwest::header::USER_AGENT, user_agent)
                .json(&json!({"email": email, "password": password})),
        )
        .await;
        Pair::of(expect_json(response, StatusCode::OK).await)
    }

    async fn refresh(&self, refresh_token: &str) -> Response {
        send(
            self.request(Method::POST, "/api/v1/auth/refresh")
                .json(&json!({ "refresh_token": refresh_token })),
        )
        .await
    }

    async fn sessions(&self, token: &str) -> Response {
        send(
            self.request(Method::GET, "/api/v1/auth/sessions")
                .bearer_auth(token),
        )
        .await
    }

    async fn revoke_session(&self, token: &str, id: &str) -> Response {
        send(
            self.request(Method::DELETE, &format!("/api/v1/auth/sessions/{id}"))
                .bearer_auth(token),
        )
        .await
    }

    async fn logout_scope(&self, token: &str, scope: &str) -> Response {
        send(
            self.request(Method::POST, "/api/v1/auth/logout")
                .query(&[("scope", scope)])
                .bearer_auth(token),
        )
        .await
    }

    async fn change_password(&self, token: &str, current: &str, new: &str) -> Response {
        send(
            self.request(Method::POST, "/api/v1/auth/password")
                .bearer_auth(token)
                .json(&json!({"current_password": current, "new_password": new})),
        )
        .await
    }

    async fn export(&self, token: &str) -> Response {
        send(
            self.request(Method::GET, "/api/v1/auth/me/export")
                .bearer_auth(token),
        )
        .await
    }

    async fn delete_me(&self, token: &str, password: &str) -> Response {
        send(
            self.request(Method::DELETE, "/api/v1/auth/me")
                .bearer_auth(token)
                .json(&json!({ "password": password })),
        )
        .await
    }

    async fn events(&self, token: &str, query: &[(&str, &str)]) -> Response {
        send(
            self.request(Method::GET, "/api/v1/auth/events")
                .query(query)
                .bearer_auth(token),
        )
        .await
    }
}
