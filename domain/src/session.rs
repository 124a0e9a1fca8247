//! Login sessions. A token is only as good as the session it names.

use std::net::IpAddr;

use crate::{ClientInfo, SessionId, Timestamp, UserAgent, UserId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    /// Set at login and at each refresh, never on an ordinary request.
    pub last_used_at: Timestamp,
    pub user_agent: Option<UserAgent>,
    pub ip: Option<IpAddr>,
}

impl Session {
    pub fn start(user_id: UserId, now: Timestamp, lifetime: chrono::Duration) -> Self {
        Self {
            id: SessionId::new(),
            user_id,
            created_at: now,
            expires_at: now + lifetime,
            revoked_at: None,
            last_used_at: now,
            user_agent: None,
            ip: None,
        }
    }

    /// The same session, recording the client it was started from.
    pub fn from_client(mut self, client: &ClientInfo) -> Self {
        self.user_agent = client.user_agent.clone();
        self.ip = client.ip;
        self
    }

    /// Active means neither revoked nor expired at `now`; `now` comes from
    /// the clock port so that expiry is testable without sleeping.
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }

    /// When an access token issued at `now` must stop working: after
    /// `access_ttl`, and never after the session ends.
    pub fn access_expiry(&self, now: Timestamp, access_ttl: chrono::Duration) -> Timestamp {
        (now + access_ttl).min(self.expires_at)
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

    #[test]
    fn access_tokens_expire_after_their_ttl_but_never_after_the_session() {
        let session = Session::start(UserId::new(), t0(), Duration::hours(1));
        assert_eq!(
            session.access_expiry(t0(), Duration::minutes(15)),
            t0() + Duration::minutes(15)
        );
        assert_eq!(
            session.access_expiry(t0() + Duration::minutes(50), Duration::minutes(15)),
            t0() + Duration::hours(1)
        );
    }
}
