//! Layered configuration: built-in defaults (`config/default.toml`, compiled
//! in), then `config/{APP_ENV}.toml`, then `APP__SECTION__KEY` variables,
//! then `DATABASE_URL`, `JWT_SECRET` and `PORT`, which win.

use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{Config, Environment, File, FileFormat};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

const DEFAULTS: &str = include_str!("../../config/default.toml");
const MIN_JWT_SECRET_BYTES: usize = 32;
/// Past the kernel's own give-up time (~15 minutes of retransmissions) a
/// longer user timeout would only make a dead path hang longer.
const MAX_TCP_USER_TIMEOUT_SECS: u64 = 900;
/// Linux's default idle time before keepalive probes (2 hours): the most
/// that still checks an idle connection at all in a useful time.
const MAX_PIPELINE_DEPTH: u64 = 64;
const MAX_KEEPALIVE_IDLE_SECS: u64 = 7200;

#[derive(Debug, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub log: LogSettings,
    pub mail: MailSettings,
    /// The front end's own reading of `[server]` (its keys, defaults and
    /// checks are the front end's): filled by [`Settings::load`], opaque here.
    #[serde(skip)]
    pub front_end: crate::front_end::Section,
}

/// The `[server]` section as the front end reads it.
#[derive(Deserialize)]
struct FrontEndLayer {
    server: crate::front_end::Section,
}

/// Where to listen: the `[server]` keys bootstrap reads, since it binds
/// the socket. The section's other keys belong to the front end.
#[derive(Debug, Deserialize)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Deserialize)]
pub struct DatabaseSettings {
    /// From `DATABASE_URL`; `None` is a start-up error, never a default.
    pub url: Option<SecretString>,
    pub require_neon_host: bool,
    pub max_size: usize,
    pub wait_timeout_ms: u64,
    pub connect_timeout_ms: u64,
    pub startup_retry_budget_ms: u64,
    pub max_lifetime_secs: u64,
    pub idle_timeout_secs: u64,
    pub statement_timeout_ms: u64,
    /// `TCP_USER_TIMEOUT` of the database sockets: unacknowledged data
    /// fails the connection after this long (1 to 900).
    pub tcp_user_timeout_secs: u64,
    /// Idle time before TCP keepalive probes on the database sockets
    /// (1 to 7200).
    pub keepalive_idle_secs: u64,
    /// Named statements prepared once per connection; false for a pooler
    /// without protocol-level prepared-statement support.
    pub prepared_statements: bool,
    /// Most statements pipelined on one connection when every connection
    /// is busy (1 to 64; 1: never share).
    pub pipeline_depth: usize,
}

#[derive(Debug, Deserialize)]
pub struct AuthSettings {
    /// From `JWT_SECRET`: at least 32 bytes.
    pub jwt_secret: Option<SecretString>,
    pub issuer: String,
    pub audience: String,
    /// How long a session (and its refresh token) lasts.
    pub session_ttl_secs: u64,
    /// How long an access token works (never past its session).
    pub access_ttl_secs: u64,
    pub login_max_failures_per_email: u32,
    pub login_max_failures_per_client: u32,
    pub login_window_secs: u64,
    /// Active sessions one user may hold; a login past it ends the oldest.
    pub max_active_sessions_per_user: u32,
    /// Password hashes allowed to wait per CPU before logins get 503.
    pub hash_queue_per_cpu: usize,
}

/// `[mail]`: where reset and verification mails go (see `crate::mail`).
#[derive(Debug, Deserialize)]
pub struct MailSettings {
    /// From `APP__MAIL__SMTP_URL`; holds credentials, never logged.
    #[serde(default)]
    pub smtp_url: Option<SecretString>,
    /// `APP__MAIL__FROM`, e.g. `Todo <no-reply@todo.example>`.
    #[serde(default)]
    pub from: Option<String>,
    /// `APP__MAIL__LINK_BASE_URL`: the web client's public URL.
    #[serde(default)]
    pub link_base_url: Option<String>,
    /// `APP__MAIL__SMTP_CA_FILE`: a PEM file of the CA(s) to trust for the
    /// SMTP server instead of the Mozilla roots (a private relay).
    #[serde(default)]
    pub smtp_ca_file: Option<PathBuf>,
    pub send_timeout_ms: u64,
    pub retry_first_delay_ms: u64,
    pub retry_max_delay_ms: u64,
    /// Unused reset (or verification) tokens a user may hold at once.
    pub max_outstanding_tokens: u32,
    /// Set from `APP_ENV` by [`Settings::load`], never from a file.
    #[serde(default)]
    pub production: bool,
}

#[derive(Debug, Deserialize)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// A configuration problem, naming the key at fault. Never holds a secret.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct SettingsError(pub String);

/// Where configuration comes from; tests pass their own.
pub struct Sources {
    pub config_dir: PathBuf,
    pub app_env: String,
    pub vars: Vec<(String, String)>,
}

impl Sources {
    /// The process environment, after reading `.env` if one exists.
    pub fn from_process() -> Self {
        let _ = dotenvy::dotenv();
        let vars: Vec<(String, String)> = std::env::vars().collect();
        let lookup = |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        Self {
            config_dir: lookup("APP_CONFIG_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("config")),
            app_env: lookup("APP_ENV").unwrap_or_else(|| "development".to_owned()),
            vars,
        }
    }

    fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Settings {
    pub fn load(sources: &Sources) -> Result<Self, SettingsError> {
        if !["development", "test", "production"].contains(&sources.app_env.as_str()) {
            return Err(SettingsError(format!(
                "APP_ENV must be development, test or production, not {:?}",
                sources.app_env
            )));
        }
        let env_file: PathBuf =
            Path::new(&sources.config_dir).join(format!("{}.toml", sources.app_env));
        let (lists, scalars): (Vec<_>, Vec<_>) = sources
            .vars
            .iter()
            .cloned()
            .partition(|(name, _)| list_key(name).is_some());
        // No `try_parsing`: it would turn `APP__SERVER__METRICS_TOKEN=0000…`
        // into a number and lose its leading zeros. Every value stays text;
        // serde asks `config` for a number or a bool only where the setting
        // is one, and `config` parses the text then.
        let mut builder = Config::builder()
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .add_source(File::from(env_file).required(false))
            .add_source(
                Environment::with_prefix("APP")
                    .prefix_separator("__")
                    .separator("__")
                    .source(Some(scalars.into_iter().collect())),
            );
        for (name, value) in &lists {
            if let Some(key) = list_key(name) {
                let items: Vec<String> = value.split(',').map(str::to_owned).collect();
                builder = builder
                    .set_override(key, items)
                    .map_err(|e| SettingsError(format!("{name}: {e}")))?;
            }
        }
        for (name, key) in [
            ("DATABASE_URL", "database.url"),
            ("JWT_SECRET", "auth.jwt_secret"),
            ("PORT", "server.port"),
        ] {
            if let Some(value) = sources.var(name) {
                builder = builder
                    .set_override(key, value)
                    .map_err(|e| SettingsError(format!("{name}: {e}")))?;
            }
        }
        builder = builder
            .set_override("mail.production", sources.app_env == "production")
            .map_err(|e| SettingsError(format!("mail.production: {e}")))?;
        let config = builder.build().map_err(|e| SettingsError(e.to_string()))?;
        let mut settings: Settings = config
            .clone()
            .try_deserialize()
            .map_err(|e| SettingsError(e.to_string()))?;
        settings.front_end = config
            .try_deserialize::<FrontEndLayer>()
            .map_err(|e| SettingsError(e.to_string()))?
            .server;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        let fail = |msg: &str| Err(SettingsError(msg.to_owned()));
        match &self.auth.jwt_secret {
            None => return fail("JWT_SECRET is required (at least 32 bytes of random text)"),
            Some(secret) if secret.expose_secret().len() < MIN_JWT_SECRET_BYTES => {
                return fail("JWT_SECRET is too short: it must be at least 32 bytes")
            }
            _ => {}
        }
        if self.database.max_size == 0 {
            return fail("database.max_size must be at least 1");
        }
        for (key, value, max, what) in [
            (
                "database.tcp_user_timeout_secs",
                self.database.tcp_user_timeout_secs,
                MAX_TCP_USER_TIMEOUT_SECS,
                "seconds a dead network path may hold a database write",
            ),
            (
                "database.keepalive_idle_secs",
                self.database.keepalive_idle_secs,
                MAX_KEEPALIVE_IDLE_SECS,
                "seconds an idle database connection goes unchecked",
            ),
            (
                "database.pipeline_depth",
                self.database.pipeline_depth as u64,
                MAX_PIPELINE_DEPTH,
                "statements in flight on one connection",
            ),
        ] {
            if !(1..=max).contains(&value) {
                return Err(SettingsError(format!(
                    "{key} must be between 1 and {max} ({what})"
                )));
            }
        }
        for (key, value) in [
            ("database.wait_timeout_ms", self.database.wait_timeout_ms),
            (
                "database.connect_timeout_ms",
                self.database.connect_timeout_ms,
            ),
            (
                "database.statement_timeout_ms",
                self.database.statement_timeout_ms,
            ),
            (
                "database.max_lifetime_secs",
                self.database.max_lifetime_secs,
            ),
            (
                "database.idle_timeout_secs",
                self.database.idle_timeout_secs,
            ),
            ("auth.session_ttl_secs", self.auth.session_ttl_secs),
            ("auth.access_ttl_secs", self.auth.access_ttl_secs),
            ("auth.login_window_secs", self.auth.login_window_secs),
            ("mail.send_timeout_ms", self.mail.send_timeout_ms),
            ("mail.retry_first_delay_ms", self.mail.retry_first_delay_ms),
            (
                "mail.max_outstanding_tokens",
                u64::from(self.mail.max_outstanding_tokens),
            ),
            (
                "auth.max_active_sessions_per_user",
                u64::from(self.auth.max_active_sessions_per_user),
            ),
        ] {
            if value == 0 {
                return Err(SettingsError(format!("{key} must be greater than 0")));
            }
        }
        Ok(())
    }
}

/// The settings given as comma-separated lists in the environment, by
/// variable: the only values split rather than kept as one string.
const LIST_VARIABLES: [(&str, &str); 1] = [(
    "APP__SERVER__CORS_ALLOWED_ORIGINS",
    "server.cors_allowed_origins",
)];

/// The configuration key of a list variable (names are case-insensitive,
/// as `config` matches the other `APP__` variables).
fn list_key(name: &str) -> Option<&'static str> {
    LIST_VARIABLES
        .iter()
        .find(|(variable, _)| variable.eq_ignore_ascii_case(name))
        .map(|(_, key)| *key)
}

pub fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const SECRET: &str = "0123456789abcdef0123456789abcdef";

    /// `config/default.toml` (and the empty `development.toml`) with only
    /// the required secrets set.
    pub(crate) fn default_settings() -> Settings {
        Settings::load(&sources(&[
            ("JWT_SECRET", SECRET),
            ("DATABASE_URL", "postgresql://x"),
        ]))
        .unwrap()
    }

    /// One source of truth: the adapters' built-in defaults are the
    /// configuration file's, so code that builds them without bootstrap
    /// (tests, benchmarks, another binary) behaves like production.
    #[test]
    fn config_defaults_are_the_database_and_limiter_adapters_defaults() {
        let settings = default_settings();
        let configured = crate::compose::postgres_settings(&settings).unwrap();
        let built_in = adapter_postgres::PostgresSettings::new("postgresql://x");
        assert_eq!(configured.require_neon_host, built_in.require_neon_host);
        assert_eq!(configured.max_size, built_in.max_size);
        assert_eq!(configured.wait_timeout, built_in.wait_timeout);
        assert_eq!(configured.connect_timeout, built_in.connect_timeout);
        assert_eq!(
            configured.connect_retry_budget,
            built_in.connect_retry_budget
        );
        assert_eq!(configured.max_lifetime, built_in.max_lifetime);
        assert_eq!(configured.idle_timeout, built_in.idle_timeout);
        assert_eq!(configured.statement_timeout, built_in.statement_timeout);
        assert_eq!(configured.tcp_user_timeout, built_in.tcp_user_timeout);
        assert_eq!(configured.keepalive_idle, built_in.keepalive_idle);
        assert_eq!(configured.pipeline_depth, built_in.pipeline_depth);

        let limits = adapter_postgres::LoginLimits::default();
        let auth = &settings.auth;
        assert_eq!(
            auth.login_max_failures_per_email,
            limits.max_failures_per_email
        );
        assert_eq!(
            auth.login_max_failures_per_client,
            limits.max_failures_per_client
        );
        assert_eq!(Duration::from_secs(auth.login_window_secs), limits.window);
        assert_eq!(
            auth.max_active_sessions_per_user,
            application::use_cases::DEFAULT_MAX_ACTIVE_SESSIONS
        );
        assert_eq!(
            auth.hash_queue_per_cpu,
            adapter_security::DEFAULT_QUEUED_PER_CPU
        );
    }

    pub(crate) fn sources(vars: &[(&str, &str)]) -> Sources {
        Sources {
            config_dir: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../config")),
            app_env: "development".into(),
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn defaults_load_with_the_required_secrets() {
        let s = Settings::load(&sources(&[
            ("JWT_SECRET", SECRET),
            ("DATABASE_URL", "postgresql://x"),
        ]))
        .unwrap();
        assert_eq!(s.server.port, 8080);
        assert_eq!(s.database.max_size, 6);
        assert_eq!(s.database.url.unwrap().expose_secret(), "postgresql://x");
    }

    #[test]
    fn well_known_names_win_over_app_variables() {
        let s = Settings::load(&sources(&[
            ("JWT_SECRET", SECRET),
            ("PORT", "9001"),
            ("APP__SERVER__PORT", "9000"),
            ("APP__DATABASE__MAX_SIZE", "7"),
        ]))
        .unwrap();
        assert_eq!(s.server.port, 9001);
        assert_eq!(s.database.max_size, 7);
    }

    #[test]
    fn app_variables_give_numbers_and_flags_and_keep_strings_exact() {
        let s = Settings::load(&sources(&[
            ("JWT_SECRET", SECRET),
            ("APP__SERVER__PORT", "9000"),
            ("APP__DATABASE__REQUIRE_NEON_HOST", "true"),
            ("APP__AUTH__ISSUER", "007"),
            ("APP__MAIL__FROM", "0042"),
        ]))
        .unwrap();
        assert_eq!(s.server.port, 9000);
        assert!(s.database.require_neon_host);
        assert_eq!(s.auth.issuer, "007");
        assert_eq!(s.mail.from.as_deref(), Some("0042"));
    }

    #[test]
    fn missing_or_short_jwt_secret_is_refused() {
        let err = Settings::load(&sources(&[])).unwrap_err().to_string();
        assert!(err.contains("JWT_SECRET is required"), "{err}");
        let err = Settings::load(&sources(&[("JWT_SECRET", "short-secret")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("JWT_SECRET is too short"), "{err}");
        assert!(!err.contains("short-secret"), "{err}");
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let err = Settings::load(&sources(&[("JWT_SECRET", SECRET), ("PORT", "eighty")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("server.port"), "{err}");
        let err = Settings::load(&sources(&[
            ("JWT_SECRET", SECRET),
            ("APP__DATABASE__MAX_SIZE", "0"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(err.contains("database.max_size"), "{err}");
    }

    #[test]
    fn database_bounds_of_zero_or_past_their_maximum_are_refused() {
        for (variable, key, max) in [
            (
                "APP__DATABASE__TCP_USER_TIMEOUT_SECS",
                "database.tcp_user_timeout_secs",
                900,
            ),
            (
                "APP__DATABASE__KEEPALIVE_IDLE_SECS",
                "database.keepalive_idle_secs",
                7200,
            ),
            (
                "APP__DATABASE__PIPELINE_DEPTH",
                "database.pipeline_depth",
                64,
            ),
        ] {
            for value in ["0".to_owned(), (max + 1).to_string()] {
                let err = Settings::load(&sources(&[("JWT_SECRET", SECRET), (variable, &value)]))
                    .unwrap_err()
                    .to_string();
                assert!(err.contains(key), "{err}");
                assert!(err.contains(&format!("between 1 and {max}")), "{err}");
            }
            for value in ["1".to_owned(), max.to_string()] {
                assert!(
                    Settings::load(&sources(&[("JWT_SECRET", SECRET), (variable, &value)])).is_ok(),
                    "{variable}={value}"
                );
            }
        }
    }

    #[test]
    fn production_requires_neon_hosts_and_logs_json() {
        let mut src = sources(&[("JWT_SECRET", SECRET)]);
        src.app_env = "production".into();
        let s = Settings::load(&src).unwrap();
        assert!(s.database.require_neon_host);
        assert_eq!(s.log.format, LogFormat::Json);
    }

    #[test]
    fn only_app_env_decides_whether_the_production_mail_rule_applies() {
        let mut src = sources(&[("JWT_SECRET", SECRET), ("APP__MAIL__PRODUCTION", "false")]);
        src.app_env = "production".into();
        assert!(Settings::load(&src).unwrap().mail.production);
        let src = sources(&[("JWT_SECRET", SECRET), ("APP__MAIL__PRODUCTION", "true")]);
        assert!(!Settings::load(&src).unwrap().mail.production);
    }

    #[test]
    fn unknown_app_env_is_refused() {
        let mut src = sources(&[("JWT_SECRET", SECRET)]);
        src.app_env = "staging".into();
        assert!(Settings::load(&src)
            .unwrap_err()
            .to_string()
            .contains("APP_ENV"));
    }

    #[test]
    fn debug_of_settings_hides_secrets() {
        let s = Settings::load(&sources(&[
            ("JWT_SECRET", SECRET),
            ("DATABASE_URL", "postgresql://u:pw-XYZ@h/db"),
        ]))
        .unwrap();
        let shown = format!("{s:?}");
        assert!(
            !shown.contains(SECRET) && !shown.contains("pw-XYZ"),
            "{shown}"
        );
    }
}
