//! [`HttpSettings`]: how the front end behaves, read by serde straight
//! from the `[server]` configuration section, so the composition root
//! holds it without knowing a single key. The keys, their defaults and
//! their rules live here; `config/default.toml` documents the same
//! defaults (a test below fails when the two drift).
//!
//! The section is read as flat numbers and strings ([`ServerSection`]),
//! then checked and turned into durations and limits. No `#[serde(flatten)]`:
//! it would stop the `config` crate turning environment strings
//! (`APP__SERVER__BODY_LIMIT_BYTES=2048`) into numbers.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::edge::HYPER_MAX_URI;
use crate::{EdgeSettings, MetricsToken};

/// How the HTTP front end behaves. Deserialises from the `[server]`
/// section (keys in [`ServerSection`]; `host` and `port` belong to whoever
/// binds the listener and are ignored here), refusing values out of range
/// with a message naming the key. `Default` is `config/default.toml`'s.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "ServerSection")]
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
    /// On shutdown, how long requests in flight may still take.
    pub shutdown_grace: Duration,
    /// Connection limits: head and keep-alive timeouts, the bound on slow
    /// heads, head sizes.
    pub edge: EdgeSettings,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(10),
            body_limit_bytes: 64 * 1024,
            cors_allowed_origins: Vec::new(),
            trust_forwarded_for: false,
            metrics_token: None,
            shutdown_grace: Duration::from_secs(10),
            edge: EdgeSettings::default(),
        }
    }
}

/// The `[server]` keys as configuration delivers them, one field per key
/// (README "Configuration"). Every key is required except
/// `metrics_token`, a secret that only comes from the environment.
#[derive(Deserialize)]
pub struct ServerSection {
    pub request_timeout_ms: u64,
    pub body_limit_bytes: usize,
    pub shutdown_grace_ms: u64,
    pub header_read_timeout_ms: u64,
    pub keep_alive_timeout_ms: u64,
    pub max_waiting_connections: usize,
    pub max_request_line_bytes: usize,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub cors_allowed_origins: Vec<String>,
    pub trust_forwarded_for: bool,
    #[serde(default)]
    pub metrics_token: Option<String>,
}

/// A `[server]` value out of range. Names the key, never shows the value
/// (it may be the metrics token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSetting(&'static str);

impl fmt::Display for InvalidSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for InvalidSetting {}

impl TryFrom<ServerSection> for HttpSettings {
    type Error = InvalidSetting;

    fn try_from(s: ServerSection) -> Result<Self, InvalidSetting> {
        let fail = |message| Err(InvalidSetting(message));
        if s.request_timeout_ms == 0 {
            return fail("server.request_timeout_ms must be greater than 0");
        }
        if s.header_read_timeout_ms == 0 {
            return fail("server.header_read_timeout_ms must be greater than 0");
        }
        if s.keep_alive_timeout_ms == 0 {
            return fail("server.keep_alive_timeout_ms must be greater than 0");
        }
        if s.body_limit_bytes < 1024 {
            return fail("server.body_limit_bytes must be at least 1024");
        }
        if s.max_waiting_connections == 0 || s.max_headers == 0 {
            return fail(
                "server.max_waiting_connections and server.max_headers must be at least 1",
            );
        }
        if !(16..=HYPER_MAX_URI).contains(&s.max_request_line_bytes) {
            return fail("server.max_request_line_bytes must be between 16 and 65534");
        }
        if s.max_header_bytes < 1024 {
            return fail("server.max_header_bytes must be at least 1024");
        }
        let metrics_token = match s.metrics_token {
            Some(token) if token.trim().len() < 16 => {
                return fail("server.metrics_token must be at least 16 characters when set")
            }
            Some(token) => MetricsToken::new(token),
            None => None,
        };
        Ok(Self {
            request_timeout: Duration::from_millis(s.request_timeout_ms),
            body_limit_bytes: s.body_limit_bytes,
            cors_allowed_origins: s.cors_allowed_origins,
            trust_forwarded_for: s.trust_forwarded_for,
            metrics_token,
            shutdown_grace: Duration::from_millis(s.shutdown_grace_ms),
            edge: EdgeSettings {
                header_read_timeout: Duration::from_millis(s.header_read_timeout_ms),
                keep_alive_timeout: Duration::from_millis(s.keep_alive_timeout_ms),
                max_waiting_connections: s.max_waiting_connections,
                max_request_line_bytes: s.max_request_line_bytes,
                max_header_bytes: s.max_header_bytes,
                max_headers: s.max_headers,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use config::{Config, File, FileFormat};

    use super::*;

    const DEFAULTS: &str = include_str!("../../../config/default.toml");

    /// `config/default.toml`'s `[server]` section with `overrides` set as
    /// strings, the way environment variables arrive.
    fn load(overrides: &[(&str, &str)]) -> Result<HttpSettings, String> {
        let mut builder = Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
        for (key, value) in overrides {
            builder = builder
                .set_override(format!("server.{key}"), *value)
                .unwrap();
        }
        /// Read as a whole: `Config::get("server")` would name only
        /// `server` in a type error, not the key below it.
        #[derive(Deserialize)]
        struct Layer {
            server: HttpSettings,
        }
        let config = builder.build().map_err(|e| e.to_string())?;
        let layer: Layer = config.try_deserialize().map_err(|e| e.to_string())?;
        Ok(layer.server)
    }

    /// One source of truth: code that builds the adapter without the
    /// configuration files (tests, benchmarks, another binary) behaves like
    /// production.
    #[test]
    fn config_defaults_are_the_built_in_defaults() {
        assert_eq!(load(&[]).unwrap(), HttpSettings::default());
    }

    #[test]
    fn numbers_and_flags_given_as_strings_are_parsed() {
        let s = load(&[
            ("request_timeout_ms", "2500"),
            ("body_limit_bytes", "2048"),
            ("shutdown_grace_ms", "1"),
            ("max_headers", "7"),
            ("trust_forwarded_for", "true"),
        ])
        .unwrap();
        assert_eq!(s.request_timeout, Duration::from_millis(2500));
        assert_eq!(s.body_limit_bytes, 2048);
        assert_eq!(s.shutdown_grace, Duration::from_millis(1));
        assert_eq!(s.edge.max_headers, 7);
        assert!(s.trust_forwarded_for);
    }

    #[test]
    fn a_value_out_of_range_is_refused_naming_its_key() {
        for (key, value) in [
            ("request_timeout_ms", "0"),
            ("header_read_timeout_ms", "0"),
            ("keep_alive_timeout_ms", "0"),
            ("body_limit_bytes", "1023"),
            ("max_waiting_connections", "0"),
            ("max_headers", "0"),
            ("max_request_line_bytes", "15"),
            ("max_request_line_bytes", "65535"),
            ("max_header_bytes", "1023"),
        ] {
            let err = load(&[(key, value)]).unwrap_err();
            assert!(
                err.contains(&format!("server.{key}")),
                "{key}={value}: {err}"
            );
        }
    }

    #[test]
    fn a_value_of_the_wrong_type_names_its_key() {
        let err = load(&[("body_limit_bytes", "lots")]).unwrap_err();
        assert!(err.contains("server.body_limit_bytes"), "{err}");
    }

    #[test]
    fn a_short_metrics_token_is_refused_without_showing_it() {
        let err = load(&[("metrics_token", "  short-token   ")]).unwrap_err();
        assert!(err.contains("server.metrics_token"), "{err}");
        assert!(!err.contains("short-token"), "{err}");
    }

    #[test]
    fn the_metrics_token_is_kept_and_never_shown() {
        let s = load(&[("metrics_token", "scrape-me-0123456789")]).unwrap();
        assert_eq!(s.metrics_token, MetricsToken::new("scrape-me-0123456789"));
        assert!(!format!("{s:?}").contains("scrape-me"));
    }
}
