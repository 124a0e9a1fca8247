//! `DATABASE_URL` under the Neon-only rules.
//!
//! tokio-postgres rejects parameters that Neon hands out (`sslmode=verify-full`,
//! `sslrootcert`), so the URL is parsed here first and the driver gets a
//! `Config` built field by field. Every accepted URL means TLS with the
//! certificate chain and host name verified; anything that would weaken that,
//! and any parameter we do not understand, is refused with a message naming it.
//! The password never appears in an error, in `Debug` or in [`ConnectionUrl::redacted`].

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use percent_encoding::percent_decode_str;
use tokio_postgres::config::{ChannelBinding, SslMode, SslNegotiation};

use crate::settings::PostgresSettings;

/// Neon's DNS suffixes; hosts outside them are refused when
/// `require_neon_host` is on.
const NEON_DOMAINS: &[&str] = &[".neon.tech", ".neon.build"];
/// Neon's pooled endpoint is the direct host's first label plus this suffix.
const POOLER_SUFFIX: &str = "-pooler";
const DEFAULT_PORT: u16 = 5432;

/// Why a `DATABASE_URL` is refused. Messages never contain the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("DATABASE_URL is not set (it is required; there is no default)")]
    Missing,
    #[error("unsupported URL scheme `{scheme}`: only PostgreSQL (Neon) is supported (use postgresql://…)")]
    UnsupportedScheme { scheme: String },
    #[error(
        "TLS is required: sslmode={sslmode} is refused; use sslmode=require, verify-ca or verify-full"
    )]
    TlsRequired { sslmode: String },
    #[error("unknown connection parameter `{name}` in DATABASE_URL")]
    UnknownParameter { name: String },
    #[error("invalid value `{value}` for connection parameter `{name}`")]
    InvalidValue { name: String, value: String },
    #[error("invalid DATABASE_URL: {reason}")]
    Malformed { reason: String },
    #[error("host `{host}` is not a Neon host (require_neon_host is on; expected *.neon.tech)")]
    NotNeonHost { host: String },
}

/// The Neon endpoint a host names, e.g. `ep-cool-darkness-a1b2c3d4` from
/// `ep-cool-darkness-a1b2c3d4-pooler.us-east-2.aws.neon.tech`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeonEndpoint {
    pub id: String,
    /// Whether the host is the PgBouncer (`-pooler`) endpoint.
    pub pooled: bool,
}

/// A parsed, Neon-compatible connection URL.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionUrl {
    pub host: String,
    pub port: u16,
    pub user: String,
    password: Option<String>,
    pub database: String,
    /// CA file to trust instead of the webpki roots.
    pub root_cert: Option<PathBuf>,
    pub channel_binding: ChannelBinding,
    pub options: Option<String>,
    pub application_name: Option<String>,
    pub connect_timeout: Option<Duration>,
    /// `sslnegotiation=direct`: TLS from the first byte, ALPN `postgresql`.
    pub direct_tls: bool,
    pub neon_endpoint: Option<NeonEndpoint>,
}

impl ConnectionUrl {
    /// Parses `raw` under the Neon-only rules; `require_neon_host` also
    /// refuses hosts outside Neon's domains.
    pub fn parse(raw: &str, require_neon_host: bool) -> Result<Self, UrlError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(UrlError::Missing);
        }
        let scheme = raw.split_once(':').map(|(s, _)| s).unwrap_or(raw);
        if !matches!(
            scheme.to_ascii_lowercase().as_str(),
            "postgres" | "postgresql"
        ) {
            return Err(UrlError::UnsupportedScheme {
                scheme: printable(scheme),
            });
        }
        let rest = raw[scheme.len() + 1..]
            .strip_prefix("//")
            .ok_or_else(|| malformed("expected postgresql://user:password@host/database"))?;
        let (before_query, query) = match rest.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (rest, None),
        };
        if before_query.contains('#') || query.is_some_and(|q| q.contains('#')) {
            return Err(malformed("a fragment (#…) is not allowed"));
        }
        let (authority, path) = match before_query.find('/') {
            Some(i) => (&before_query[..i], &before_query[i + 1..]),
            None => (before_query, ""),
        };
        // The password may contain '@' only percent-encoded, but be lenient:
        // the last '@' separates the user info from the host.
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            Some(info) => match info.split_once(':') {
                Some((u, p)) => (decode("user", u)?, Some(decode_secret(p)?)),
                None => (decode("user", info)?, None),
            },
            None => (String::new(), None),
        };
        if user.is_empty() {
            return Err(malformed("the URL names no user"));
        }
        let (host, port) = split_host_port(hostport)?;
        if host.is_empty() {
            return Err(malformed("the URL names no host"));
        }
        if host.contains(',') {
            return Err(malformed("multiple hosts are not supported"));
        }
        let database = decode("database", path)?;
        let database = if database.is_empty() {
            user.clone()
        } else {
            database
        };

        let mut url = Self {
            neon_endpoint: neon_endpoint(&host),
            host,
            port,
            user,
            password,
            database,
            root_cert: None,
            channel_binding: ChannelBinding::Prefer,
            options: None,
            application_name: None,
            connect_timeout: None,
            direct_tls: false,
        };
        let mut sslmode: Option<String> = None;
        let mut seen: Vec<String> = Vec::new();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode("parameter name", name)?;
            let value = decode(&name, value)?;
            if seen.contains(&name) {
                return Err(malformed(&format!("parameter `{name}` is given twice")));
            }
            seen.push(name.clone());
            match name.as_str() {
                "sslmode" => sslmode = Some(value),
                "sslrootcert" => {
                    if value.is_empty() {
                        return Err(invalid(&name, &value));
                    }
                    url.root_cert = Some(PathBuf::from(value));
                }
                "channel_binding" => {
                    url.channel_binding = match value.as_str() {
                        "require" => ChannelBinding::Require,
                        "prefer" => ChannelBinding::Prefer,
                        "disable" => ChannelBinding::Disable,
                        _ => return Err(invalid(&name, &value)),
                    }
                }
                "options" => url.options = Some(value),
                "application_name" => url.application_name = Some(value),
                "connect_timeout" => {
                    let secs: u64 = value.parse().map_err(|_| invalid(&name, &value))?;
                    // libpq: 0 means wait forever; we keep our own bound then.
                    url.connect_timeout = (secs > 0).then(|| Duration::from_secs(secs.max(2)));
                }
                "sslnegotiation" => {
                    url.direct_tls = match value.as_str() {
                        "direct" => true,
                        "postgres" => false,
                        _ => return Err(invalid(&name, &value)),
                    }
                }
                _ => {
                    return Err(UrlError::UnknownParameter {
                        name: printable(&name),
                    })
                }
            }
        }
        match sslmode.as_deref() {
            Some("require" | "verify-ca" | "verify-full") => {}
            Some(other @ ("disable" | "allow" | "prefer")) => {
                return Err(UrlError::TlsRequired {
                    sslmode: other.to_owned(),
                })
            }
            None => {
                return Err(UrlError::TlsRequired {
                    sslmode: "(missing)".to_owned(),
                })
            }
            Some(other) => return Err(invalid("sslmode", other)),
        }
        if require_neon_host && !is_neon_host(&url.host) {
            return Err(UrlError::NotNeonHost {
                host: url.host.clone(),
            });
        }
        Ok(url)
    }

    /// Whether the host is Neon's pooled (PgBouncer) endpoint.
    pub fn is_pooled(&self) -> bool {
        self.neon_endpoint.as_ref().is_some_and(|e| e.pooled)
    }

    /// The same URL aimed at the direct endpoint (the host without
    /// `-pooler`), where migrations and session-level features belong.
    pub fn direct(&self) -> Self {
        let mut direct = self.clone();
        if self.is_pooled() {
            if let Some((first, rest)) = self.host.split_once('.') {
                let label = first.strip_suffix(POOLER_SUFFIX).unwrap_or(first);
                direct.host = format!("{label}.{rest}");
            }
            if let Some(endpoint) = &mut direct.neon_endpoint {
                endpoint.pooled = false;
            }
        }
        direct
    }

    /// The URL for logs: everything but the password.
    pub fn redacted(&self) -> String {
        let password = if self.password.is_some() {
            ":[redacted]"
        } else {
            ""
        };
        format!(
            "postgresql://{}{}@{}:{}/{}",
            self.user,
            password,
            host_for_display(&self.host),
            self.port,
            self.database
        )
    }

    /// The driver's configuration. TLS is always `require`: with rustls
    /// that verifies the chain and the host name (libpq's verify-full).
    /// TCP keepalives probe a connection idle for `keepalive_idle` (then
    /// every 10 s), and `tcp_user_timeout` (`TCP_USER_TIMEOUT`) makes a
    /// write that the other side never acknowledges (a black-holed path, a
    /// vanished NAT entry) fail after that long instead of after the
    /// kernel's ~15 minutes of retransmissions; keepalives alone do not
    /// cover a stuck write. With the user timeout set, Linux ends an idle
    /// connection by it too: at the first keepalive probe due once nothing
    /// has been heard for that long, so a dead idle connection is found
    /// before a request needs it.
    pub(crate) fn pg_config(
        &self,
        connect_timeout: Duration,
        settings: &PostgresSettings,
    ) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config
            .host(&self.host)
            .port(self.port)
            .user(&self.user)
            .dbname(&self.database)
            .ssl_mode(SslMode::Require)
            .channel_binding(self.channel_binding)
            .connect_timeout(connect_timeout)
            .keepalives(true)
            .keepalives_idle(settings.keepalive_idle)
            .keepalives_interval(KEEPALIVE_INTERVAL)
            .keepalives_retries(KEEPALIVE_RETRIES)
            .tcp_user_timeout(settings.tcp_user_timeout);
        if let Some(password) = &self.password {
            config.password(password);
        }
        if let Some(options) = &self.options {
            config.options(options);
        }
        if let Some(name) = &self.application_name {
            config.application_name(name);
        }
        if self.direct_tls {
            config.ssl_negotiation(SslNegotiation::Direct);
        }
        config
    }
}

/// See [`ConnectionUrl::pg_config`]. With `TCP_USER_TIMEOUT` set, Linux
/// ignores the retry count and ends the connection by the user timeout.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVE_RETRIES: u32 = 3;

impl fmt::Debug for ConnectionUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionUrl")
            .field("url", &self.redacted())
            .field("root_cert", &self.root_cert)
            .field("channel_binding", &self.channel_binding)
            .field("options", &self.options)
            .field("application_name", &self.application_name)
            .field("connect_timeout", &self.connect_timeout)
            .field("direct_tls", &self.direct_tls)
            .field("neon_endpoint", &self.neon_endpoint)
            .finish()
    }
}

impl fmt::Display for ConnectionUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

fn malformed(reason: &str) -> UrlError {
    UrlError::Malformed {
        reason: reason.to_owned(),
    }
}

fn invalid(name: &str, value: &str) -> UrlError {
    UrlError::InvalidValue {
        name: printable(name),
        value: printable(value),
    }
}

/// Echoed user input is bounded and stripped of control characters.
fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(64).collect()
}

fn decode(what: &str, text: &str) -> Result<String, UrlError> {
    percent_decode_str(text)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| malformed(&format!("{what} is not valid UTF-8 after percent-decoding")))
}

/// Like [`decode`], with an error that cannot echo the secret.
fn decode_secret(text: &str) -> Result<String, UrlError> {
    percent_decode_str(text)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| malformed("the password is not valid UTF-8 after percent-decoding"))
}

fn split_host_port(hostport: &str) -> Result<(String, u16), UrlError> {
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| malformed("unterminated [IPv6] host"))?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| malformed("junk after [IPv6] host"))?,
            ),
        };
        (host.to_owned(), port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (hostport.to_owned(), None),
        }
    };
    let port = match port {
        None | Some("") => DEFAULT_PORT,
        Some(p) => p.parse().map_err(|_| invalid("port", p))?,
    };
    Ok((decode("host", &host)?.to_ascii_lowercase(), port))
}

fn host_for_display(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

fn is_neon_host(host: &str) -> bool {
    NEON_DOMAINS.iter().any(|d| host.ends_with(d))
}

/// Neon routes by the first DNS label (`ep-…`), minus a `-pooler` suffix.
fn neon_endpoint(host: &str) -> Option<NeonEndpoint> {
    let first = host.split('.').next()?;
    if !first.starts_with("ep-") || !host.contains('.') {
        return None;
    }
    Some(match first.strip_suffix(POOLER_SUFFIX) {
        Some(id) => NeonEndpoint {
            id: id.to_owned(),
            pooled: true,
        },
        None => NeonEndpoint {
            id: first.to_owned(),
            pooled: false,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_sockets_use_keepalives_and_a_user_timeout() {
        let url = ConnectionUrl::parse(
            "postgresql://app:pw@ep-x-123.eu-central-1.aws.neon.tech/db?sslmode=require",
            false,
        )
        .unwrap();
        let mut settings = PostgresSettings::new("postgresql://unused");
        settings.keepalive_idle = Duration::from_secs(11);
        settings.tcp_user_timeout = Duration::from_secs(7);
        let config = url.pg_config(Duration::from_secs(10), &settings);
        assert!(config.get_keepalives());
        assert_eq!(config.get_keepalives_idle(), Duration::from_secs(11));
        assert_eq!(
            config.get_keepalives_interval(),
            Some(Duration::from_secs(10))
        );
        assert_eq!(config.get_keepalives_retries(), Some(3));
        assert_eq!(config.get_tcp_user_timeout(), Some(&Duration::from_secs(7)));
    }

    const NEON: &str = "postgresql://alex:AbC123dEf@ep-cool-darkness-a1b2c3d4-pooler.us-east-2.aws.neon.tech/neondb?sslmode=require&channel_binding=require";

    fn parse(raw: &str) -> Result<ConnectionUrl, UrlError> {
        ConnectionUrl::parse(raw, false)
    }

    #[test]
    fn neon_pooled_url_is_understood() {
        let url = ConnectionUrl::parse(NEON, true).unwrap();
        assert_eq!(
            url.host,
            "ep-cool-darkness-a1b2c3d4-pooler.us-east-2.aws.neon.tech"
        );
        assert_eq!(url.port, 5432);
        assert_eq!(url.user, "alex");
        assert_eq!(url.database, "neondb");
        assert_eq!(url.channel_binding, ChannelBinding::Require);
        assert_eq!(
            url.neon_endpoint,
            Some(NeonEndpoint {
                id: "ep-cool-darkness-a1b2c3d4".into(),
                pooled: true
            })
        );
        let direct = url.direct();
        assert_eq!(
            direct.host,
            "ep-cool-darkness-a1b2c3d4.us-east-2.aws.neon.tech"
        );
        assert!(!direct.is_pooled());
        assert_eq!(direct.direct(), direct);
    }

    #[test]
    fn other_schemes_are_refused_as_not_postgres() {
        for raw in [
            "sqlite://todo.db",
            "sqlite::memory:",
            "mysql://u:p@h/db",
            "invalid://x",
            "nonsense",
        ] {
            let err = parse(raw).unwrap_err();
            assert!(
                matches!(err, UrlError::UnsupportedScheme { .. }),
                "{raw}: {err:?}"
            );
            assert!(err
                .to_string()
                .contains("only PostgreSQL (Neon) is supported"));
        }
        assert!(parse("postgres://u:p@h/db?sslmode=require").is_ok());
        assert!(parse("POSTGRESQL://u:p@h/db?sslmode=require").is_ok());
    }

    #[test]
    fn tls_must_be_required() {
        for mode in ["disable", "allow", "prefer"] {
            let err = parse(&format!("postgresql://u:p@h/db?sslmode={mode}")).unwrap_err();
            assert_eq!(
                err,
                UrlError::TlsRequired {
                    sslmode: mode.into()
                }
            );
            assert!(err.to_string().contains("TLS is required"));
        }
        let err = parse("postgresql://u:p@h/db").unwrap_err();
        assert!(err.to_string().contains("TLS is required"), "{err}");
        for mode in ["require", "verify-ca", "verify-full"] {
            assert!(
                parse(&format!("postgresql://u:p@h/db?sslmode={mode}")).is_ok(),
                "{mode}"
            );
        }
        assert!(matches!(
            parse("postgresql://u:p@h/db?sslmode=bogus"),
            Err(UrlError::InvalidValue { .. })
        ));
    }

    #[test]
    fn unknown_parameters_are_named() {
        let err =
            parse("postgresql://u:p@h/db?sslmode=require&target_session_attrs=any").unwrap_err();
        assert_eq!(
            err,
            UrlError::UnknownParameter {
                name: "target_session_attrs".into()
            }
        );
        assert!(err.to_string().contains("target_session_attrs"));
    }

    #[test]
    fn known_parameters_are_honoured_and_decoded() {
        let url = parse(
            "postgresql://app%40x:p%2Fw%40d@localhost:56432/my%20db?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca%20x.pem&options=endpoint%3Dep-abc&application_name=todo&connect_timeout=7&sslnegotiation=direct&channel_binding=disable",
        )
        .unwrap();
        assert_eq!(url.user, "app@x");
        assert_eq!(url.password.as_deref(), Some("p/w@d"));
        assert_eq!(url.database, "my db");
        assert_eq!(url.port, 56432);
        assert_eq!(url.root_cert, Some(PathBuf::from("/tmp/ca x.pem")));
        assert_eq!(url.options.as_deref(), Some("endpoint=ep-abc"));
        assert_eq!(url.application_name.as_deref(), Some("todo"));
        assert_eq!(url.connect_timeout, Some(Duration::from_secs(7)));
        assert!(url.direct_tls);
        assert_eq!(url.channel_binding, ChannelBinding::Disable);
        assert_eq!(url.neon_endpoint, None);
    }

    #[test]
    fn ipv6_hosts_and_default_database() {
        let url = parse("postgresql://app:pw@[::1]:5433?sslmode=require").unwrap();
        assert_eq!(url.host, "::1");
        assert_eq!(url.port, 5433);
        assert_eq!(url.database, "app");
        assert_eq!(url.redacted(), "postgresql://app:[redacted]@[::1]:5433/app");
    }

    #[test]
    fn neon_host_can_be_required() {
        let err = ConnectionUrl::parse("postgresql://u:p@localhost/db?sslmode=require", true)
            .unwrap_err();
        assert_eq!(
            err,
            UrlError::NotNeonHost {
                host: "localhost".into()
            }
        );
        assert!(ConnectionUrl::parse(NEON, true).is_ok());
    }

    #[test]
    fn password_never_shows() {
        let secret = "S3cr3t-Pa55";
        let url = parse(&format!(
            "postgresql://app:{secret}@db.example.com/app?sslmode=require"
        ))
        .unwrap();
        assert!(!format!("{url:?}").contains(secret));
        assert!(!url.to_string().contains(secret));
        assert!(!url.redacted().contains(secret));
        for bad in [
            format!("postgresql://app:{secret}@db.example.com/app?sslmode=disable"),
            format!("postgresql://app:{secret}@db.example.com/app?foo=bar"),
            format!("postgresql://app:{secret}@db.example.com:notaport/app?sslmode=require"),
            format!("postgresql://app:{secret}%ff@db.example.com/app?sslmode=require"),
        ] {
            let err = parse(&bad).unwrap_err();
            assert!(!err.to_string().contains(secret), "{err}");
            assert!(!format!("{err:?}").contains(secret), "{err:?}");
        }
    }

    #[test]
    fn malformed_urls_are_refused() {
        for raw in [
            "postgresql:u@h/db?sslmode=require",
            "postgresql://h/db?sslmode=require",
            "postgresql://u:p@/db?sslmode=require",
            "postgresql://u:p@h1,h2/db?sslmode=require",
            "postgresql://u:p@h:99999/db?sslmode=require",
            "postgresql://u:p@h/db?sslmode=require&sslmode=require",
        ] {
            assert!(parse(raw).is_err(), "{raw}");
        }
        assert_eq!(parse("  "), Err(UrlError::Missing));
    }
}
