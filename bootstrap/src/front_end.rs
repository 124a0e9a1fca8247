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
    }
}
