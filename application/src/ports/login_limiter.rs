use std::net::IpAddr;
use std::time::Duration;

use domain::Timestamp;

/// Counts failed logins per email and per client address, so brute force
/// meets a wall: past the limit, login is refused until a delay passes.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait LoginLimiter: Send + Sync {
    /// `Err(retry_after)` when `email` (whatever the client) or `client`
    /// (whatever the email) has failed too often recently.
    fn check(&self, email: &str, client: Option<IpAddr>, now: Timestamp) -> Result<(), Duration>;

    fn record_failure(&self, email: &str, client: Option<IpAddr>, now: Timestamp);

    /// A successful login clears the email's count.
    fn record_success(&self, email: &str, client: Option<IpAddr>);
}
