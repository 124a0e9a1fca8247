//! Which front end the suite speaks to.
//!
//! By default every test spawns the `todo-server` binary of this repository
//! (see [`crate::server`]). With `E2E_SERVER_URL=http://host:port` the
//! tests that only speak HTTP (and read the database) run against a front
//! end that is already running instead: another HTTP adapter, a build from
//! elsewhere, a deployment on a test database. The suite is then a
//! conformance suite for that front end.
//!
//! Tests that must start, configure, signal or read the output of the
//! process begin with [`crate::needs_own_server!`] and skip in that mode
//! with a printed note; tests that sign tokens with the server's secret
//! begin with [`crate::needs_jwt_secret!`] and run only when
//! `E2E_JWT_SECRET` gives it. A test that forgets the macro fails with a
//! message saying so instead of testing the wrong thing.

use std::sync::OnceLock;

/// The variable naming a running front end.
pub const SERVER_URL_VAR: &str = "E2E_SERVER_URL";
/// The variable holding that front end's JWT secret, if the tests may know it.
pub const JWT_SECRET_VAR: &str = "E2E_JWT_SECRET";

/// The running front end's base URL (`http://host:port`, no trailing `/`),
/// when `E2E_SERVER_URL` is set and not blank.
///
/// # Panics
/// When it is set to something other than a plain `http://` URL (the raw
/// HTTP tests speak HTTP/1.1 over TCP, without TLS).
pub fn external_url() -> Option<&'static str> {
    static URL: OnceLock<Option<String>> = OnceLock::new();
    URL.get_or_init(|| {
        let url = std::env::var(SERVER_URL_VAR).ok()?;
        let url = url.trim().trim_end_matches('/');
        if url.is_empty() {
            return None;
        }
        let host = url.strip_prefix("http://").unwrap_or_else(|| {
            panic!("{SERVER_URL_VAR} must be a plain http://host:port URL, got `{url}`")
        });
        assert!(
            !host.is_empty() && !host.contains('/'),
            "{SERVER_URL_VAR} must be http://host:port without a path, got `{url}`"
        );
        Some(url.to_owned())
    })
    .as_deref()
}

/// `E2E_JWT_SECRET` when set and not blank.
pub fn external_jwt_secret() -> Option<String> {
    std::env::var(JWT_SECRET_VAR)
        .ok()
        .filter(|secret| !secret.trim().is_empty())
}

/// Fails a test that controls the server process while the suite runs
/// against a front end it does not control: the safety net behind
/// [`crate::needs_own_server!`].
///
/// # Panics
/// In that mode, naming what the test wanted to do.
pub(crate) fn assert_own_server(what: &str) {
    if let Some(url) = external_url() {
        panic!(
            "this test {what}, which a front end it does not control ({SERVER_URL_VAR}={url}) \
             does not allow: begin it with `e2e_tests::needs_own_server!(\"...\")` so that it \
             skips in that mode"
        );
    }
}

/// Returns from the calling test, with a note on stderr, when the suite runs
/// against a front end it does not control (`E2E_SERVER_URL`). The argument
/// says what the test needs the process for, e.g. `"restarts the server"`.
#[macro_export]
macro_rules! needs_own_server {
    ($why:expr) => {
        if let Some(url) = $crate::front_end::external_url() {
            eprintln!(
                "skipped: this test {} and cannot run against {}={url}",
                $why,
                $crate::front_end::SERVER_URL_VAR
            );
            return;
        }
    };
}

/// Returns from the calling test, with a note on stderr, when the suite runs
/// against a front end it does not control and `E2E_JWT_SECRET` does not
/// give that front end's JWT secret (the test signs tokens with it).
#[macro_export]
macro_rules! needs_jwt_secret {
    () => {
        if $crate::front_end::external_url().is_some()
            && $crate::front_end::external_jwt_secret().is_none()
        {
            eprintln!(
                "skipped: this test signs tokens with the server's JWT secret; set {} to run it \
                 against {}",
                $crate::front_end::JWT_SECRET_VAR,
                $crate::front_end::SERVER_URL_VAR
            );
            return;
        }
    };
}
