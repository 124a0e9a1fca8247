//! The HTTP front end: the REST contract of `shared/API.md` over the use
//! cases, with axum.
//!
//! Layout:
//! - [`router`] builds the whole service: the route list (written once,
//!   for both axum and `/openapi.json`), middleware and state.
//! - `auth_routes`, `account_routes`, `task_routes`, `ops_routes`: the
//!   handlers, one module per part of the contract (`account_bodies` holds
//!   the account additions' JSON shapes, `export_stream` streams the
//!   account export page by page). Handlers only translate HTTP to use-case calls.
//! - `extract`: our own extractors (JSON body, query, path, bearer token,
//!   client address), so no plain-text axum rejection ever reaches a client.
//! - `problem`: the one place that maps errors to statuses and RFC 9457
//!   problem bodies.
//! - `bodies`: the JSON shapes of requests and answers.
//! - `preconditions`: `ETag`, `If-Match` (strong, into the use case's
//!   `Precondition`) and `If-None-Match` (weak) syntax.
//! - `web`: the embedded web pages, `/` (the client) and `/docs`.
//! - `middleware`: request ids, tracing spans, metrics, timeouts and the
//!   net that turns any bare error answer into problem+json.
//! - `metrics`, `openapi`: `/metrics` and `/openapi.json`.
//! - `server`: [`serve`], which owns the listener loop, graceful shutdown
//!   and its grace period.
//! - `settings`: [`HttpSettings`], read by serde straight from the
//!   `[server]` configuration section, with its defaults and checks.
//! - `edge`: the HTTP/1.1 connections under [`serve`]: slow and idle
//!   clients, and problem answers for request heads refused before routing.
//!
//! Nothing here knows SQL or a database driver, and nothing here decides a
//! rule: handlers parse the protocol, call a use case from
//! [`application::Services`] and render its answer. Another front end can
//! call the same services and gets the same rules, messages, logs and
//! database-error counts.

mod account_bodies;
mod account_routes;
mod auth_routes;
mod bodies;
mod edge;
mod export_stream;
mod extract;
mod metrics;
mod middleware;
mod openapi;
mod ops_routes;
mod preconditions;
mod problem;
mod recovery_routes;
mod routes;
mod server;
mod settings;
mod state;
mod task_routes;
mod web;

pub use application::Services;
pub use edge::EdgeSettings;
pub use metrics::MetricsToken;
pub use routes::router;
pub use server::serve;
pub use settings::{HttpSettings, InvalidSetting, ServerSection};
