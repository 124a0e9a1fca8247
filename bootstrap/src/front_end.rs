//! The HTTP front end, wired to the services. Replacing the front end
//! means replacing this file's body and the `adapter-http` line of
//! `Cargo.toml`; nothing else in bootstrap names it.

use std::future::Future;

use secrecy::ExposeSecret;
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
    let http = http_settings(settings);
    adapter_http::serve(listener, built.services.clone(), http, shutdown).await
}

/// The `[server]` section as the HTTP adapter's settings.
fn http_settings(settings: &Settings) -> adapter_http::HttpSettings {
    let server = &settings.server;
    adapter_http::HttpSettings {
        request_timeout: millis(server.request_timeout_ms),
        body_limit_bytes: server.body_limit_bytes,
        cors_allowed_origins: server.cors_allowed_origins.clone(),
        trust_forwarded_for: server.trust_forwarded_for,
        shutdown_grace: millis(server.shutdown_grace_ms),
        edge: adapter_http::EdgeSettings {
            header_read_timeout: millis(server.header_read_timeout_ms),
            keep_alive_timeout: millis(server.keep_alive_timeout_ms),
            max_waiting_connections: server.max_waiting_connections,
            max_request_line_bytes: server.max_request_line_bytes,
            max_header_bytes: server.max_header_bytes,
            max_headers: server.max_headers,
        },
        metrics_token: server
            .metrics_token
            .as_ref()
            .and_then(|token| adapter_http::MetricsToken::new(token.expose_secret())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::tests::default_settings;

    #[test]
    fn config_defaults_are_the_http_adapters_defaults() {
        let configured = http_settings(&default_settings());
        let built_in = adapter_http::HttpSettings::default();
        assert_eq!(configured.request_timeout, built_in.request_timeout);
        assert_eq!(configured.body_limit_bytes, built_in.body_limit_bytes);
        assert_eq!(
            configured.cors_allowed_origins,
            built_in.cors_allowed_origins
        );
        assert_eq!(configured.trust_forwarded_for, built_in.trust_forwarded_for);
        assert_eq!(configured.shutdown_grace, built_in.shutdown_grace);
        let (configured, built_in) = (configured.edge, built_in.edge);
        assert_eq!(configured.header_read_timeout, built_in.header_read_timeout);
        assert_eq!(configured.keep_alive_timeout, built_in.keep_alive_timeout);
        assert_eq!(
            configured.max_waiting_connections,
            built_in.max_waiting_connections
        );
        assert_eq!(
            configured.max_request_line_bytes,
            built_in.max_request_line_bytes
        );
        assert_eq!(configured.max_header_bytes, built_in.max_header_bytes);
        assert_eq!(configured.max_headers, built_in.max_headers);
    }
}
