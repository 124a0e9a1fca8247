//! What the shared limiter last refused, remembered in this process until
//! the refusal lifts, so a flood of attempts on one full key (one client
//! hammering, or one email under attack) is answered 429 without taking a
//! pool connection and queueing on that key's row lock: the flood would
//! otherwise hold the pool and slow every other login.
//!
//! Only refusals are kept, each for the `retry_after` the database gave:
//! every replica still learns the limit from the database, and a key is
//! never let through on local knowledge. Bounded: at most [`CAPACITY`]
//! fixed-size keys; when full of live entries, a new refusal is simply not
//! remembered (the database answers it next time).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use domain::Timestamp;

/// 32-byte keys and an instant: about 2 MiB at most.
pub(crate) const CAPACITY: usize = 32 * 1024;

#[derive(Default)]
pub(crate) struct Refusals {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    until: HashMap<[u8; 32], Timestamp>,
    /// When the map was last found full of live refusals: the earliest of
    /// them to lift. No sweep can free a place before then, so none is
    /// tried: a flood of new keys costs no scan per refusal.
    full_until: Option<Timestamp>,
}

/// A wait as `Retry-After` wants it: whole seconds, rounded up, at least one.
pub(crate) fn whole_seconds(wait: Duration) -> Duration {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    Duration::from_secs(secs.max(1))
}

impl Refusals {
    /// Remembers that `key` is refused until `now + retry_after`.
    pub(crate) fn remember(&self, key: [u8; 32], now: Timestamp, retry_after: Duration) {
        let Ok(wait) = chrono::Duration::from_std(retry_after) else {
            return;
        };
        let Some(until) = now.checked_add_signed(wait) else {
            return;
        };
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if inner.until.len() >= CAPACITY && !inner.until.contains_key(&key) {
            if inner.full_until.is_some_and(|lifts| now < lifts) {
                return;
            }
            inner.until.retain(|_, lifts| *lifts > now);
            if inner.until.len() >= CAPACITY {
                inner.full_until = inner.until.values().min().copied();
                return;
            }
            inner.full_until = None;
        }
        inner.until.insert(key, until);
    }

    /// A slot of `key` was handed back here: let the database judge it again.
    pub(crate) fn forget(&self, key: &[u8; 32]) {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .until
            .remove(key);
    }

    /// How long the longest live refusal among `keys` still lasts, rounded
    /// up to whole seconds as `Retry-After` wants; `None` when none is live.
    pub(crate) fn refused(&self, keys: &[&[u8; 32]], now: Timestamp) -> Option<Duration> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let lifts = keys
            .iter()
            .filter_map(|key| inner.until.get(*key))
            .filter(|lifts| **lifts > now)
            .max()?;
        Some(whole_seconds((*lifts - now).to_std().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn t0() -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()
    }

    #[test]
    fn a_refusal_holds_until_it_lifts_and_only_for_its_key() {
        let refusals = Refusals::default();
        refusals.remember([1; 32], t0(), Duration::from_secs(30));
        assert_eq!(
            refusals.refused(&[&[2; 32], &[1; 32]], t0() + chrono::Duration::seconds(10)),
            Some(Duration::from_secs(20))
        );
        assert_eq!(refusals.refused(&[&[2; 32]], t0()), None);
        assert_eq!(
            refusals.refused(&[&[1; 32]], t0() + chrono::Duration::seconds(30)),
            None
        );
        refusals.forget(&[1; 32]);
        assert_eq!(refusals.refused(&[&[1; 32]], t0()), None);
    }

    #[test]
    fn it_never_holds_more_than_its_capacity_of_live_refusals() {
        let refusals = Refusals::default();
        for i in 0..CAPACITY + 10 {
            let mut key = [0; 32];
            key[..8].copy_from_slice(&(i as u64).to_le_bytes());
            refusals.remember(key, t0(), Duration::from_secs(60));
        }
        let held = refusals.inner.lock().unwrap().until.len();
        assert_eq!(held, CAPACITY);
        // Full of live refusals: no sweep is tried again until the first lifts.
        assert_eq!(
            refusals.inner.lock().unwrap().full_until,
            Some(t0() + chrono::Duration::seconds(60))
        );
        // Once the old ones lifted, new refusals are remembered again.
        let later = t0() + chrono::Duration::seconds(61);
        refusals.remember([9; 32], later, Duration::from_secs(5));
        assert!(refusals.refused(&[&[9; 32]], later).is_some());
        assert!(refusals.inner.lock().unwrap().until.len() <= CAPACITY);
    }
}
