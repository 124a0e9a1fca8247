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
    until: Mutex<HashMap<[u8; 32], Timestamp>>,
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
        let mut map = self.until.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= CAPACITY && !map.contains_key(&key) {
            map.retain(|_, lifts| *lifts > now);
            if map.len() >= CAPACITY {
                return;
            }
        }
        map.insert(key, until);
    }

    /// A slot of `key` was handed back here: let the database judge it again.
    pub(crate) fn forget(&self, key: &[u8; 32]) {
        self.until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }

    /// How long the longest live refusal among `keys` still lasts, rounded
    /// up to whole seconds as `Retry-After` wants; `None` when none is live.
    pub(crate) fn refused(&self, keys: &[&[u8; 32]], now: Timestamp) -> Option<Duration> {
        let map = self.until.lock().unwrap_or_else(PoisonError::into_inner);
        let lifts = keys
            .iter()
            .filter_map(|key| map.get(*key))
            .filter(|lifts| **lifts > now)
            .max()?;
        let wait = (*lifts - now).to_std().ok()?;
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Some(Duration::from_secs(secs.max(1)))
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
        let held = refusals.until.lock().unwrap().len();
        assert_eq!(held, CAPACITY);
        // Once the old ones lifted, new refusals are remembered again.
        let later = t0() + chrono::Duration::seconds(61);
        refusals.remember([9; 32], later, Duration::from_secs(5));
        assert!(refusals.refused(&[&[9; 32]], later).is_some());
        assert!(refusals.until.lock().unwrap().len() <= CAPACITY);
    }
}
