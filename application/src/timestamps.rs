//! The one text form of an instant that every front end answers with, so
//! the HTTP API, the operator CLI's export and any other front end agree.

use chrono::SecondsFormat;
use domain::Timestamp;

/// RFC 3339 in UTC with `Z` and always six fraction digits (PostgreSQL's
/// microseconds), e.g. `2026-05-01T10:00:00.000000Z`. Stored instants stay
/// in the four-digit years (`domain::task::in_four_digit_years`), so this
/// is always valid RFC 3339.
pub fn rfc3339(at: &Timestamp) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    #[test]
    fn every_instant_has_six_fraction_digits_and_a_z() {
        let whole = chrono::Utc.with_ymd_and_hms(2031, 5, 1, 9, 30, 0).unwrap();
        assert_eq!(super::rfc3339(&whole), "2031-05-01T09:30:00.000000Z");
        let fine = whole + chrono::Duration::nanoseconds(123_456_789);
        assert_eq!(super::rfc3339(&fine), "2031-05-01T09:30:00.123456Z");
    }
}
