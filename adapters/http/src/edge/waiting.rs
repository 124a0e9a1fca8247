//! The bound on connections held by unfinished heads: new connections
//! that have not sent a whole head yet (slow, stalled or silent), and kept
//! alive ones part way through their next head. Idle kept-alive connections
//! sent a whole request already; the keep-alive timeout closes those. Past
//! the bound, the one that has waited longest is closed, so an attacker opening many slow connections evicts
//! its own, while a normal client, whose head arrives at once, is served.
//! A connection is only closed once it has waited [`MIN_WAIT`]: a burst of
//! new connections whose heads are still in the kernel's buffers (the
//! server busy) goes over the bound for a moment instead.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::time::Instant;

use super::connection::ConnShared;

/// How long a connection waits before the bound may close it.
pub(crate) const MIN_WAIT: Duration = Duration::from_secs(1);

/// Connections currently waiting, oldest first.
pub(crate) struct Waiting {
    max: usize,
    entries: Mutex<BTreeMap<(Instant, u64), Weak<ConnShared>>>,
}

impl Waiting {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            entries: Mutex::new(BTreeMap::new()),
        }
    }

    /// Moves connection `id` from `old` to `new` (either may be absent) and
    /// returns the connections to close because the bound was passed.
    pub(crate) fn update(
        &self,
        id: u64,
        old: Option<Instant>,
        new: Option<Instant>,
        conn: &Arc<ConnShared>,
    ) -> Vec<Arc<ConnShared>> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(since) = old {
            entries.remove(&(since, id));
        }
        let Some(since) = new else {
            return Vec::new();
        };
        entries.insert((since, id), Arc::downgrade(conn));
        let mut evicted = Vec::new();
        let now = Instant::now();
        while entries.len() > self.max {
            let Some(entry) = entries.first_entry() else {
                break;
            };
            if now.saturating_duration_since(entry.key().0) < MIN_WAIT {
                break;
            }
            if let Some(oldest) = entry.remove().upgrade() {
                evicted.push(oldest);
            }
        }
        evicted
    }

    /// Forgets connection `id`.
    pub(crate) fn remove(&self, id: u64, since: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(&(since, id));
    }
}
