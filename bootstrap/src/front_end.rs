//! The HTTP front end, wired to the services. Replacing the front end
//! means replacing this file's body and the `adapter-http` line of
//! `Cargo.toml`; nothing else in bootstrap names it.

use std::future::Future;

use tokio::net::TcpListener;

use crate::compose::Built;
use crate::settings::{millis, Settings};

/// Serves HTTP on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    built: &Built,
    settings: &Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let server = &settings.server;
    let http = adapter_http::HttpSettings {
        request_timeout: millis(server.request_timeout_ms),
        body_limit_bytes: server.body_limit_bytes,
        cors_allowed_origins: server.cors_allowed_origins.clone(),
        trust_forwarded_for: server.trust_forwarded_for,
        shutdown_grace: millis(server.shutdown_grace_ms),
    };
    adapter_http::serve(listener, built.services.clone(), http, shutdown).await
}
