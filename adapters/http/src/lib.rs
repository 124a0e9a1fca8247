//! The HTTP front end: the REST contract of `shared/API.md` over the use
//! cases, with axum.
//!
//! Layout:
//! - [`router`] builds the whole service: routes, middleware and state.
//! - `auth_routes`, `task_routes`, `ops_routes`: the handlers, one module per
//!   part of the contract. Handlers only translate HTTP to use-case calls.
//! - `extract`: our own extractors (JSON body, query, path, bearer token,
//!   client address), so no plain-text axum rejection ever reaches a client.
//! - `problem`: the one place that maps errors to statuses and RFC 9457
//!   problem bodies.
//! - `bodies`: the JSON shapes of requests and answers.
//! - `preconditions`: `If-Match` parsing.
//! - `middleware`: request ids, tracing spans, metrics, timeouts and the
//!   net that turns any bare error answer into problem+json.
//! - `metrics`, `openapi`: `/metrics` and `/openapi.json`.
//!
//! Nothing here knows SQL or a database driver: another front end can call
//! the same [`AuthService`] and [`TaskService`] methods.

use std::sync::Arc;
use std::time::Duration;

use application::use_cases::{AuthService, TaskService};
use async_trait::async_trait;

mod auth_routes;
mod bodies;
mod extract;
mod metrics;
mod middleware;
mod openapi;
mod ops_routes;
mod preconditions;
mod problem;
mod routes;
mod state;
mod task_routes;

pub use metrics::MetricsToken;
pub use routes::router;

/// How the HTTP front end behaves; filled from configuration by bootstrap.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Longest time one request may take before it is answered 503.
    pub request_timeout: Duration,
    /// Largest accepted request body; larger ones get 413 (contract: 64 KiB).
    pub body_limit_bytes: usize,
    /// Origins allowed by CORS. Empty: no CORS headers at all. `"*"`: any.
    pub cors_allowed_origins: Vec<String>,
    /// Take the client address for login limiting from the right-most
    /// `X-Forwarded-For` entry. Only behind a proxy that sets it.
    pub trust_forwarded_for: bool,
    /// When set, `/metrics` answers only requests carrying it as a bearer
    /// token (401 otherwise). `None`: open, for local use.
    pub metrics_token: Option<MetricsToken>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            body_limit_bytes: 64 * 1024,
            cors_allowed_origins: Vec::new(),
            trust_forwarded_for: false,
            metrics_token: None,
        }
    }
}

/// Database health as `/readyz` and `/metrics` see it. Implemented by the
/// composition root over the pool, so this crate names no driver.
#[async_trait]
pub trait Readiness: Send + Sync {
    /// Whether the database answers a trivial query. `/readyz` waits for it
    /// at most 2 seconds.
    async fn database_ready(&self) -> bool;

    /// The pool's current numbers, for `/metrics`.
    fn pool_stats(&self) -> PoolStats;
}

/// A snapshot of the connection pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    pub size: usize,
    pub available: usize,
    pub waiting: usize,
    pub max_size: usize,
}

/// The use cases and probes the router serves.
pub struct Services {
    pub auth: Arc<AuthService>,
    pub tasks: Arc<TaskService>,
    pub readiness: Arc<dyn Readiness>,
}
