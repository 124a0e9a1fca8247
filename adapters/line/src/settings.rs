//! [`LineSettings`]: read by serde from the `[server]` section; keys it
//! does not know (the HTTP front end's) are ignored, missing ones default.

use std::io;
use std::time::Duration;

use serde::Deserialize;

/// How the line front end behaves.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct LineSettings {
    /// Longest request line; a longer one is answered `ERR bad_request`
    /// and the connection closed.
    pub max_line_bytes: usize,
    /// Connections served at once; past it a new one is told
    /// `ERR unavailable` and closed.
    pub max_connections: usize,
    /// A connection with no new line for this long, or that takes this
    /// long to take an answer, is closed.
    pub idle_timeout_ms: u64,
    /// On shutdown, how long requests in flight may still take.
    pub shutdown_grace_ms: u64,
}

impl Default for LineSettings {
    fn default() -> Self {
        Self {
            max_line_bytes: 4096,
            max_connections: 256,
            idle_timeout_ms: 60_000,
            shutdown_grace_ms: 10_000,
        }
    }
}

impl LineSettings {
    pub(crate) fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }

    pub(crate) fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }

    /// Refuses values that would make the server useless.
    pub(crate) fn validate(&self) -> io::Result<()> {
        let invalid =
            |what: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, what.to_owned()));
        if self.max_line_bytes < 64 {
            return invalid("server.max_line_bytes must be at least 64");
        }
        if self.max_connections == 0 {
            return invalid("server.max_connections must be at least 1");
        }
        if self.idle_timeout_ms == 0 {
            return invalid("server.idle_timeout_ms must be greater than 0");
        }
        Ok(())
    }
}
