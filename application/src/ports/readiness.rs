use async_trait::async_trait;

/// The database's health as operations see it (`/readyz`, `/metrics` or
/// any other front end's equivalent). Implemented by the storage adapter.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Readiness: Send + Sync {
    /// Whether the database answered the last time the service used it.
    /// While it did, this sends nothing and opens no connection (an idle
    /// Neon compute may suspend however often it is asked); while it did
    /// not, it may try the database again, at most once every few
    /// seconds. A merely busy pool is not a failure.
    async fn database_ready(&self) -> bool;

    /// The pool's current numbers.
    fn pool_stats(&self) -> PoolStats;
}

/// A snapshot of the connection pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    pub size: usize,
    pub available: usize,
    pub waiting: usize,
    pub max_size: usize,
}
