//! Login sessions. A token is only as good as the session it names.

use crate::{SessionId, Timestamp, UserId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

impl Session {
    pub fn start(user_id: UserId, now: Timestamp, lifetime: chrono::Duration) -> Self {
        Self {
            id: SessionId::new(),
            user_id,
            created_at: now,
            expires_at: now + lifetime,
            revoked_at: None,
        }
    }

    /// Active means neither revoked nor expired at `now`; `now` comes from
    /// the clock port so that expiry is testable without sleeping.
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone, Utc};

    fn t0() -> Timestamp {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    #[test]
    fn session_is_active_until_it_expires() {
        let session = Session::start(UserId::new(), t0(), Duration::hours(1));
        assert!(session.is_active(t0()));
        assert!(session.is_active(t0() + Duration::minutes(59)));
        assert!(!session.is_active(t0() + Duration::hours(1)));
    }

    #[test]
    fn revoked_session_is_not_active() {
        let mut session = Session::start(UserId::new(), t0(), Duration::hours(1));
        session.revoked_at = Some(t0());
        assert!(!session.is_active(t0()));
    }
}
