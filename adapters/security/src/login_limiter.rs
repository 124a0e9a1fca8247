//! Failed-login counting in process memory, behind the `LoginLimiter` port.
//!
//! A sliding window per key: for each email (lower-cased) and each client
//! address (an IPv6 client by its /64, which one subscriber usually holds
//! whole, so rotating addresses inside it gains nothing), the times of its last `max` failures. A key is blocked while
//! all `max` of them are inside the window, and is told to retry when the
//! oldest leaves it. Memory is bounded: each key keeps at most `max` times,
//! keys whose failures have all left the window are pruned, and past
//! `max_tracked_keys` the least recently failed key is evicted.
//!
//! Counts live in one process: with several replicas, each counts alone.

use std::borrow::Borrow;
use std::collections::VecDeque;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroUsize;
use std::time::Duration;

use application::ports::LoginLimiter;
use domain::Timestamp;
use lru::LruCache;
use parking_lot::Mutex;

/// How many failures are tolerated, per email and per client, within `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// Failures of one email, from any client, before it is blocked.
    pub max_failures_per_email: u32,
    /// Failures from one client address, for any email, before it is blocked.
    pub max_failures_per_client: u32,
    pub window: Duration,
}

impl Default for LoginLimits {
    /// 5 per email and 20 per client in 15 minutes.
    fn default() -> Self {
        Self {
            max_failures_per_email: 5,
            max_failures_per_client: 20,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// Default cap on tracked keys per table (emails, clients): a few MB at most.
pub const DEFAULT_MAX_TRACKED_KEYS: usize = 100_000;

/// The in-process login limiter. Thread-safe; `now` always comes from the
/// caller, so tests move time instead of sleeping.
#[derive(Debug)]
pub struct InMemoryLoginLimiter {
    by_email: Mutex<FailureLog<String>>,
    by_client: Mutex<FailureLog<IpAddr>>,
}

impl InMemoryLoginLimiter {
    pub fn new(limits: LoginLimits) -> Self {
        Self::with_max_tracked_keys(limits, DEFAULT_MAX_TRACKED_KEYS)
    }

    /// As `new`, tracking at most `max_keys` emails and `max_keys` clients.
    pub fn with_max_tracked_keys(limits: LoginLimits, max_keys: usize) -> Self {
        let window = chrono::Duration::from_std(limits.window).unwrap_or(chrono::Duration::MAX);
        Self {
            by_email: Mutex::new(FailureLog::new(
                limits.max_failures_per_email,
                window,
                max_keys,
            )),
            by_client: Mutex::new(FailureLog::new(
                limits.max_failures_per_client,
                window,
                max_keys,
            )),
        }
    }
}

impl Default for InMemoryLoginLimiter {
    fn default() -> Self {
        Self::new(LoginLimits::default())
    }
}

fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// IPv4 as is (also when IPv4-mapped); IPv6 reduced to its /64 prefix.
fn client_key(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(
                u128::from(v6) & 0xffff_ffff_ffff_ffff_0000_0000_0000_0000,
            )),
        },
    }
}

impl LoginLimiter for InMemoryLoginLimiter {
    fn check(&self, email: &str, client: Option<IpAddr>, now: Timestamp) -> Result<(), Duration> {
        let by_email = self
            .by_email
            .lock()
            .retry_after(email_key(email).as_str(), now);
        let by_client = client.and_then(|c| self.by_client.lock().retry_after(&client_key(c), now));
        match by_email.max(by_client) {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    fn record_failure(&self, email: &str, client: Option<IpAddr>, now: Timestamp) {
        self.by_email.lock().record(email_key(email), now);
        if let Some(client) = client {
            self.by_client.lock().record(client_key(client), now);
        }
    }

    /// Clears the email's count only: the client's stays, or an attacker
    /// holding one valid account could reset it between guesses.
    fn record_success(&self, email: &str, _client: Option<IpAddr>) {
        self.by_email.lock().keys.pop(email_key(email).as_str());
    }
}

/// Recent failure times per key, oldest key (by last failure) first.
#[derive(Debug)]
struct FailureLog<K: Hash + Eq> {
    max: usize,
    window: chrono::Duration,
    keys: LruCache<K, VecDeque<Timestamp>>,
}

impl<K: Hash + Eq> FailureLog<K> {
    fn new(max: u32, window: chrono::Duration, max_keys: usize) -> Self {
        let cap = NonZeroUsize::new(max_keys).unwrap_or(NonZeroUsize::MIN);
        Self {
            max: usize::try_from(max).unwrap_or(usize::MAX).max(1),
            window,
            keys: LruCache::new(cap),
        }
    }

    /// `Some(wait)` while the key's last `max` failures are all inside the
    /// window: until the oldest of them leaves it, rounded up to whole
    /// seconds (at least one) for `Retry-After`.
    fn retry_after<Q>(&self, key: &Q, now: Timestamp) -> Option<Duration>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let times = self.keys.peek(key)?;
        if times.len() < self.max {
            return None;
        }
        let oldest_counted = times[times.len() - self.max];
        let free_at = oldest_counted.checked_add_signed(self.window)?;
        let wait = (free_at - now).to_std().ok().filter(|w| !w.is_zero())?;
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Some(Duration::from_secs(secs.max(1)))
    }

    fn record(&mut self, key: K, now: Timestamp) {
        self.prune(now);
        if let Some(times) = self.keys.get_mut(&key) {
            times.push_back(now);
            while times.len() > self.max {
                times.pop_front();
            }
        } else {
            // At capacity this evicts the least recently failed key.
            self.keys.put(key, VecDeque::from([now]));
        }
    }

    /// Drops keys, least recently failed first, whose newest failure has
    /// left the window. Amortised O(1) per recorded failure.
    fn prune(&mut self, now: Timestamp) {
        while let Some((_, times)) = self.keys.peek_lru() {
            let stale = times
                .back()
                .and_then(|newest| newest.checked_add_signed(self.window))
                .is_none_or(|free_at| free_at <= now);
            if !stale {
                break;
            }
            self.keys.pop_lru();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn t0() -> Timestamp {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().expect("an IP address"))
    }

    fn secs(n: i64) -> chrono::Duration {
        chrono::Duration::seconds(n)
    }

    fn limiter() -> InMemoryLoginLimiter {
        InMemoryLoginLimiter::new(LoginLimits {
            max_failures_per_email: 3,
            max_failures_per_client: 5,
            window: Duration::from_secs(60),
        })
    }

    #[test]
    fn email_is_blocked_after_its_limit_even_from_different_clients() {
        let limiter = limiter();
        for (i, client) in ["10.0.0.1", "10.0.0.2", "10.0.0.3"].iter().enumerate() {
            assert!(limiter.check("ann@example.com", ip(client), t0()).is_ok());
            limiter.record_failure("ann@example.com", ip(client), t0() + secs(i as i64));
        }
        let wait = limiter
            .check("ann@example.com", ip("10.0.0.4"), t0() + secs(2))
            .unwrap_err();
        assert_eq!(
            wait,
            Duration::from_secs(58),
            "until the first failure leaves the window"
        );
        assert!(limiter
            .check("ann@example.com", None, t0() + secs(2))
            .is_err());
        assert!(limiter
            .check("bob@example.com", ip("10.0.0.4"), t0() + secs(2))
            .is_ok());
    }

    #[test]
    fn email_limit_ignores_case() {
        let limiter = limiter();
        for email in ["Ann@Example.com", "ANN@EXAMPLE.COM", "ann@example.com"] {
            limiter.record_failure(email, None, t0());
        }
        assert!(limiter.check("aNn@example.COM", None, t0()).is_err());
    }

    #[test]
    fn client_is_blocked_after_its_limit_across_different_emails() {
        let limiter = limiter();
        for i in 0..5 {
            limiter.record_failure(&format!("user{i}@example.com"), ip("10.0.0.9"), t0());
        }
        let wait = limiter
            .check("fresh@example.com", ip("10.0.0.9"), t0())
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(60));
        assert!(limiter
            .check("fresh@example.com", ip("10.0.0.8"), t0())
            .is_ok());
        assert!(limiter.check("fresh@example.com", None, t0()).is_ok());
    }

    #[test]
    fn below_the_limit_nothing_is_blocked() {
        let limiter = limiter();
        limiter.record_failure("ann@example.com", ip("10.0.0.1"), t0());
        limiter.record_failure("ann@example.com", ip("10.0.0.1"), t0());
        assert!(limiter
            .check("ann@example.com", ip("10.0.0.1"), t0())
            .is_ok());
    }

    #[test]
    fn block_lifts_once_the_oldest_failure_leaves_the_window() {
        let limiter = limiter();
        limiter.record_failure("ann@example.com", None, t0());
        limiter.record_failure("ann@example.com", None, t0() + secs(10));
        limiter.record_failure("ann@example.com", None, t0() + secs(20));
        assert!(limiter
            .check("ann@example.com", None, t0() + secs(59))
            .is_err());
        assert!(limiter
            .check("ann@example.com", None, t0() + secs(60))
            .is_ok());

        // One more failure: the three latest are again inside the window.
        limiter.record_failure("ann@example.com", None, t0() + secs(61));
        let wait = limiter
            .check("ann@example.com", None, t0() + secs(61))
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(9));
        assert!(limiter
            .check("ann@example.com", None, t0() + secs(70))
            .is_ok());
    }

    #[test]
    fn retry_after_is_rounded_up_and_at_least_one_second() {
        let limiter = limiter();
        for _ in 0..3 {
            limiter.record_failure("ann@example.com", None, t0());
        }
        let almost = t0() + secs(60) - chrono::Duration::milliseconds(1);
        assert_eq!(
            limiter.check("ann@example.com", None, almost).unwrap_err(),
            Duration::from_secs(1)
        );
        let mid = t0() + chrono::Duration::milliseconds(500);
        assert_eq!(
            limiter.check("ann@example.com", None, mid).unwrap_err(),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn success_clears_the_email_but_not_the_client() {
        let limiter = limiter();
        for i in 0..5 {
            limiter.record_failure("ann@example.com", ip("10.0.0.1"), t0() + secs(i));
        }
        limiter.record_success("ANN@example.com", ip("10.0.0.1"));
        assert!(limiter
            .check("ann@example.com", ip("10.0.0.2"), t0() + secs(5))
            .is_ok());
        assert!(limiter
            .check("ann@example.com", ip("10.0.0.1"), t0() + secs(5))
            .is_err());
    }

    #[test]
    fn tracked_keys_are_capped_evicting_the_least_recent() {
        let limiter = InMemoryLoginLimiter::with_max_tracked_keys(LoginLimits::default(), 10);
        for i in 0..25 {
            limiter.record_failure(
                &format!("u{i}@example.com"),
                Some(IpAddr::from([10, 0, 0, i as u8])),
                t0(),
            );
        }
        assert_eq!(limiter.by_email.lock().keys.len(), 10);
        assert_eq!(limiter.by_client.lock().keys.len(), 10);
        assert!(limiter.by_email.lock().keys.contains("u24@example.com"));
        assert!(!limiter.by_email.lock().keys.contains("u0@example.com"));
    }

    #[test]
    fn expired_keys_are_pruned() {
        let limiter = limiter();
        for i in 0..100 {
            limiter.record_failure(&format!("u{i}@example.com"), ip("10.0.0.1"), t0());
        }
        limiter.record_failure("late@example.com", ip("10.0.0.2"), t0() + secs(61));
        assert_eq!(limiter.by_email.lock().keys.len(), 1);
        assert_eq!(limiter.by_client.lock().keys.len(), 1);
    }

    #[test]
    fn keys_hold_at_most_the_limit_of_failure_times() {
        let limiter = limiter();
        for i in 0..1000 {
            limiter.record_failure(
                "ann@example.com",
                None,
                t0() + chrono::Duration::milliseconds(i),
            );
        }
        let log = limiter.by_email.lock();
        assert_eq!(log.keys.peek("ann@example.com").unwrap().len(), 3);
    }

    #[test]
    fn concurrent_failures_are_all_counted() {
        let limiter = std::sync::Arc::new(InMemoryLoginLimiter::new(LoginLimits {
            max_failures_per_email: 40,
            max_failures_per_client: 1000,
            window: Duration::from_secs(60),
        }));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let limiter = limiter.clone();
                std::thread::spawn(move || {
                    for _ in 0..10 {
                        limiter.record_failure(
                            "ann@example.com",
                            Some(IpAddr::from([10, 0, 1, t as u8])),
                            t0(),
                        );
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert!(limiter.check("ann@example.com", None, t0()).is_err());
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_prefix() {
        let limiter = limiter();
        for i in 1..=5 {
            let client = format!("2001:db8:1:2::{i:x}");
            limiter.record_failure(&format!("u{i}@example.com"), ip(&client), t0());
        }
        let same_prefix = ip("2001:db8:1:2:ffff:ffff:ffff:ffff");
        assert!(limiter.check("new@example.com", same_prefix, t0()).is_err());
        assert!(limiter
            .check("new@example.com", ip("2001:db8:1:3::1"), t0())
            .is_ok());
    }

    #[test]
    fn ipv4_mapped_ipv6_counts_as_the_ipv4_client() {
        let limiter = limiter();
        for i in 0..5 {
            limiter.record_failure(&format!("u{i}@example.com"), ip("::ffff:10.0.0.7"), t0());
        }
        assert!(limiter
            .check("new@example.com", ip("10.0.0.7"), t0())
            .is_err());
    }
}
