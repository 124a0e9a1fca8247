//! The front end: the only lines of bootstrap that name it. Replacing the
//! HTTP front end means replacing `SCHEME`, `Section` and the call in
//! `serve` here (and this file's tests of the old section), and the
//! `adapter-http` line of `Cargo.toml` (README "Swapping the HTTP front end").

use std::future::Future;

use tokio::net::TcpListener;

use crate::compose::Built;
use crate::settings::Settings;

/// How clients reach the front end, for the start-up line
/// `listening on {SCHEME}://{address}` (tests and scripts wait for it).
pub const SCHEME: &str = "http";

/// The front end's settings, read by serde from the `[server]` section
/// (all of it but `host` and `port`), with the front end's own defaults and
/// checks. Bootstrap only holds it: `Deserialize + Default + Debug + Clone`.
pub type Section = adapter_http::HttpSettings;

/// Serves on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    built: &Built,
    settings: &Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (services, section) = (built.services.clone(), settings.front_end.clone());
    adapter_http::serve(listener, services, section, shutdown).await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::settings::tests::{sources, SECRET};
    use crate::settings::Settings;

    /// The settings from `vars` (as the environment gives them) and a
    /// valid `JWT_SECRET`, or the error's text.
    fn load(vars: &[(&str, &str)]) -> Result<Settings, String> {
        let mut all = vec![("JWT_SECRET", SECRET)];
        all.extend_from_slice(vars);
        Settings::load(&sources(&all)).map_err(|e| e.to_string())
    }

    /// Environment variables arrive as strings; the front end still gets
    /// numbers, flags and lists, and a bad value names its key.
    #[test]
    fn server_variables_reach_the_front_end() {
        let s = load(&[
            ("APP__SERVER__REQUEST_TIMEOUT_MS", "2500"),
            ("APP__SERVER__BODY_LIMIT_BYTES", "2048"),
            ("APP__SERVER__TRUST_FORWARDED_FOR", "true"),
            (
                "APP__SERVER__CORS_ALLOWED_ORIGINS",
                "https://a.example,https://b.example",
            ),
        ])
        .unwrap();
        let section = &s.front_end;
        assert_eq!(section.request_timeout, Duration::from_millis(2500));
        assert_eq!(section.body_limit_bytes, 2048);
        assert!(section.trust_forwarded_for);
        assert_eq!(
            section.cors_allowed_origins,
            ["https://a.example", "https://b.example"]
        );
        let err = load(&[("APP__SERVER__BODY_LIMIT_BYTES", "12")]).unwrap_err();
        assert!(err.contains("server.body_limit_bytes"), "{err}");
    }

    #[test]
    fn metrics_token_comes_from_the_environment_and_is_off_by_default() {
        assert!(load(&[]).unwrap().front_end.metrics_token.is_none());
        let s = load(&[("APP__SERVER__METRICS_TOKEN", "scrape-me-0123456789")]).unwrap();
        let expected = adapter_http::MetricsToken::new("scrape-me-0123456789");
        assert_eq!(s.front_end.metrics_token, expected);
        assert!(!format!("{s:?}").contains("scrape-me"));
        let err = load(&[("APP__SERVER__METRICS_TOKEN", "short")]).unwrap_err();
        assert!(err.contains("server.metrics_token"), "{err}");
        assert!(!err.contains("short"), "{err}");
    }

    /// A token of digits only is still the text given, leading zeros and
    /// all (read as a number it would lose them and be refused as short).
    #[test]
    fn a_digits_only_metrics_token_keeps_its_exact_text() {
        let s = load(&[("APP__SERVER__METRICS_TOKEN", "0000111122223333")]).unwrap();
        let expected = adapter_http::MetricsToken::new("0000111122223333");
        assert_eq!(s.front_end.metrics_token, expected);
    }

    #[test]
    fn one_origin_without_a_comma_is_a_list_of_one() {
        let s = load(&[("APP__SERVER__CORS_ALLOWED_ORIGINS", "https://a.example")]).unwrap();
        assert_eq!(s.front_end.cors_allowed_origins, ["https://a.example"]);
    }
}
