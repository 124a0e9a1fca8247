use domain::Timestamp;

/// The current time. Every expiry decision takes `now` from here, so tests
/// control time instead of sleeping.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Clock: Send + Sync {
    /// Now, in UTC, truncated to microseconds (PostgreSQL's precision).
    fn now(&self) -> Timestamp;
}
