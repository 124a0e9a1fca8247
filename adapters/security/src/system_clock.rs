//! The wall clock behind the `Clock` port.

use application::ports::Clock;
use chrono::{Timelike, Utc};
use domain::Timestamp;

/// `Utc::now()` truncated to microseconds, so a time written to PostgreSQL
/// and read back compares equal to the one the code holds.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        truncate_to_micros(Utc::now())
    }
}

fn truncate_to_micros(t: Timestamp) -> Timestamp {
    let nanos = t.nanosecond();
    t.with_nanosecond(nanos - nanos % 1_000).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn now_has_no_sub_microsecond_part() {
        for _ in 0..100 {
            assert_eq!(SystemClock.now().nanosecond() % 1_000, 0);
        }
    }

    #[test]
    fn truncation_keeps_the_microseconds() {
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
            + chrono::Duration::nanoseconds(123_456_789);
        assert_eq!(truncate_to_micros(t).nanosecond(), 123_456_000);
    }

    #[test]
    fn now_is_close_to_the_system_time() {
        let before = Utc::now() - chrono::Duration::microseconds(1);
        let now = SystemClock.now();
        assert!(now >= before && now <= Utc::now(), "{before} {now}");
    }
}
