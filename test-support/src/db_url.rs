//! Database URLs with one part changed: the password, the host, the port,
//! the database or a query parameter. Everything else is kept byte for
//! byte, so a test changes exactly what it names (and the CA path, the
//! channel binding and the other parameters stay as the cluster printed
//! them).
//!
//! The URLs are `postgresql://user:password@host:port/database?query`, as
//! `scripts/neon-local.sh` and Neon print them.

use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};

/// A URL cut around its host and port.
struct Parts<'a> {
    /// `scheme://user:password@` (or `scheme://` without credentials).
    head: &'a str,
    host: &'a str,
    port: Option<&'a str>,
    /// `/database?query`, possibly empty.
    tail: &'a str,
}

/// # Panics
/// When `url` has no `scheme://`.
fn parts(url: &str) -> Parts<'_> {
    let scheme_end = url
        .find("://")
        .unwrap_or_else(|| panic!("a database URL starts with a scheme: {}", redacted(url)))
        + 3;
    let authority_end = url[scheme_end..]
        .find(['/', '?'])
        .map_or(url.len(), |i| scheme_end + i);
    let authority = &url[scheme_end..authority_end];
    let host_start = authority
        .rfind('@')
        .map_or(scheme_end, |i| scheme_end + i + 1);
    let host_port = &url[host_start..authority_end];
    let (host, port) = if let Some(end) = host_port.strip_prefix('[').and_then(|h| h.find(']')) {
        let (host, after) = host_port.split_at(end + 2);
        (host, after.strip_prefix(':'))
    } else {
        match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    Parts {
        head: &url[..host_start],
        host,
        port,
        tail: &url[authority_end..],
    }
}

/// The URL with its userinfo, whatever it holds, as `[credentials]`: for
/// panic messages.
fn redacted(url: &str) -> String {
    match url.split_once('@') {
        Some((_, rest)) => format!("[credentials]@{rest}"),
        None => url.to_owned(),
    }
}

/// The password, percent-decoded (to assert that it is never printed).
pub fn password(url: &str) -> Option<String> {
    let head = parts(url).head.strip_suffix('@')?;
    let (_, userinfo) = head.split_once("://")?;
    let (_, password) = userinfo.split_once(':')?;
    Some(
        percent_decode_str(password)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

/// The same URL with another password (percent-encoded as needed).
///
/// # Panics
/// When the URL names no user.
pub fn with_password(url: &str, password: &str) -> String {
    let parts = parts(url);
    let head = parts
        .head
        .strip_suffix('@')
        .unwrap_or_else(|| panic!("the URL names no user: {}", redacted(url)));
    let (scheme, userinfo) = head.split_once("://").expect("parts() found the scheme");
    let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
    let encoded = utf8_percent_encode(password, NON_ALPHANUMERIC);
    let rest = &url[parts.head.len()..];
    format!("{scheme}://{user}:{encoded}@{rest}")
}

/// The port, if the URL names one.
pub fn port(url: &str) -> Option<u16> {
    parts(url).port?.parse().ok()
}

/// The host as written in the URL.
pub fn host(url: &str) -> &str {
    parts(url).host
}

/// The same URL pointing at `host:port`.
pub fn with_host_port(url: &str, host: &str, port: u16) -> String {
    let parts = parts(url);
    format!("{}{host}:{port}{}", parts.head, parts.tail)
}

/// The same URL pointing at another port of the same host.
pub fn with_port(url: &str, port: u16) -> String {
    with_host_port(url, parts(url).host, port)
}

/// The same URL naming another database on the same server.
pub fn with_database(url: &str, database: &str) -> String {
    let parts = parts(url);
    let query = parts.tail.find('?').map_or("", |i| &parts.tail[i..]);
    let authority = &url[..url.len() - parts.tail.len()];
    format!("{authority}/{database}{query}")
}

/// The same URL with query parameter `name` set to `value` (replaced if
/// present, appended otherwise).
pub fn with_param(url: &str, name: &str, value: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut pairs: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some(name))
        .collect();
    let added = format!("{name}={value}");
    pairs.push(&added);
    format!("{base}?{}", pairs.join("&"))
}

/// The value of query parameter `name`, percent-decoded.
pub fn param(url: &str, name: &str) -> Option<String> {
    let (_, query) = url.split_once('?')?;
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| percent_decode_str(value).decode_utf8_lossy().into_owned())
    })
}

/// The same URL without query parameter `name`.
pub fn without_param(url: &str, name: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some(name))
        .collect();
    if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str =
        "postgresql://app:s%40cret@localhost:5432/app?sslmode=require&sslrootcert=/x/ca.pem";

    #[test]
    fn the_password_is_decoded_and_replaced_with_the_rest_kept() {
        assert_eq!(password(URL).as_deref(), Some("s@cret"));
        let other = with_password(URL, "wr:ng@");
        assert_eq!(password(&other).as_deref(), Some("wr:ng@"));
        assert!(other.starts_with("postgresql://app:wr%3Ang%40@localhost:5432/app?"));
        assert!(other.ends_with("?sslmode=require&sslrootcert=/x/ca.pem"));
        assert_eq!(password("postgresql://app@h/db"), None);
    }

    #[test]
    fn host_port_and_database_change_only_what_they_name() {
        assert_eq!(port(URL), Some(5432));
        assert_eq!(host(URL), "localhost");
        assert_eq!(
            with_port(URL, 6000),
            "postgresql://app:s%40cret@localhost:6000/app?sslmode=require&sslrootcert=/x/ca.pem"
        );
        assert_eq!(
            with_host_port(URL, "no-such-host.invalid", 1),
            "postgresql://app:s%40cret@no-such-host.invalid:1/app?sslmode=require&sslrootcert=/x/ca.pem"
        );
        assert_eq!(
            with_database(URL, "t_1"),
            "postgresql://app:s%40cret@localhost:5432/t_1?sslmode=require&sslrootcert=/x/ca.pem"
        );
        assert_eq!(
            with_port("postgresql://[::1]:5/db", 7),
            "postgresql://[::1]:7/db"
        );
        assert_eq!(
            with_database("postgresql://h:1", "db"),
            "postgresql://h:1/db"
        );
    }

    #[test]
    fn query_parameters_are_set_read_and_removed() {
        assert_eq!(
            with_param(URL, "sslmode", "disable"),
            "postgresql://app:s%40cret@localhost:5432/app?sslrootcert=/x/ca.pem&sslmode=disable"
        );
        assert_eq!(
            with_param("postgresql://h/db", "a", "1"),
            "postgresql://h/db?a=1"
        );
        assert_eq!(param(URL, "sslrootcert").as_deref(), Some("/x/ca.pem"));
        assert_eq!(param(URL, "channel_binding"), None);
        assert_eq!(
            without_param(URL, "sslrootcert"),
            "postgresql://app:s%40cret@localhost:5432/app?sslmode=require"
        );
        assert_eq!(
            without_param("postgresql://h/db?a=1", "a"),
            "postgresql://h/db"
        );
    }
}
