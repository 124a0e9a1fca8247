//! What happened to an account, kept for its owner: logins, logouts,
//! revocations, password changes and the mail flows. Every front end and
//! every adapter that writes or reads the `security_events` table names
//! the kinds through [`SecurityEventKind`], so the spellings live here once.

use std::fmt;
use std::net::IpAddr;

use crate::{EventId, SessionId, Timestamp, UserId};

/// The ten kinds of security event, as the API and the table spell them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityEventKind {
    Registered,
    LoginSucceeded,
    /// A wrong password for an existing account (unknown emails write none).
    LoginFailed,
    Logout,
    SessionRevoked,
    /// A spent refresh token was presented again; its session was ended.
    RefreshReused,
    PasswordChanged,
    PasswordResetRequested,
    PasswordReset,
    EmailVerified,
}

/// A kind name that is not one of the ten.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown security event kind")]
pub struct UnknownEventKind;

impl SecurityEventKind {
    /// Every kind, in the contract's order.
    pub const ALL: [Self; 10] = [
        Self::Registered,
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::Logout,
        Self::SessionRevoked,
        Self::RefreshReused,
        Self::PasswordChanged,
        Self::PasswordResetRequested,
        Self::PasswordReset,
        Self::EmailVerified,
    ];

    /// The name in the API and in `security_events.type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registered => "registered",
            Self::LoginSucceeded => "login_succeeded",
            Self::LoginFailed => "login_failed",
            Self::Logout => "logout",
            Self::SessionRevoked => "session_revoked",
            Self::RefreshReused => "refresh_reused",
            Self::PasswordChanged => "password_changed",
            Self::PasswordResetRequested => "password_reset_requested",
            Self::PasswordReset => "password_reset",
            Self::EmailVerified => "email_verified",
        }
    }

    /// The kind named `name` exactly (as [`SecurityEventKind::as_str`] spells it).
    pub fn parse(name: &str) -> Result<Self, UnknownEventKind> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or(UnknownEventKind)
    }
}

impl fmt::Display for SecurityEventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Longest user agent kept, in characters (`sessions.user_agent`,
/// `security_events.user_agent`).
pub const MAX_USER_AGENT_CHARS: usize = 512;

/// A client's `User-Agent` as stored: at most 512 characters, without NUL
/// or other control characters (PostgreSQL text cannot hold NUL, and a
/// sessions list should not print terminal escapes). Longer values are
/// truncated, not refused: the header is the client's, not a field they fill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAgent(String);

impl UserAgent {
    /// `None` when nothing printable is left.
    pub fn from_header(raw: &str) -> Option<Self> {
        let kept: String = raw
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_USER_AGENT_CHARS)
            .collect();
        let trimmed = kept.trim();
        (!trimmed.is_empty()).then(|| Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where a request came from, as recorded with sessions and events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<UserAgent>,
}

/// One stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityEvent {
    pub id: EventId,
    pub user_id: UserId,
    pub kind: SecurityEventKind,
    pub at: Timestamp,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<UserAgent>,
    pub session_id: Option<SessionId>,
}

/// Where a page of events ends, handed to clients as an opaque
/// `next_cursor`: the (at, id) of the page's oldest event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventCursor {
    pub at: Timestamp,
    pub id: EventId,
}

/// A cursor a client sent that is not one we made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("is not a valid cursor")]
pub struct MalformedEventCursor;

const EVENT_CURSOR_VERSION: &str = "e1";

impl EventCursor {
    pub fn after(event: &SecurityEvent) -> Self {
        Self {
            at: event.at,
            id: event.id,
        }
    }

    /// The opaque text for clients.
    pub fn encode(&self) -> String {
        use base64::Engine as _;
        let plain = format!(
            "{EVENT_CURSOR_VERSION}|{}|{}",
            self.at.timestamp_micros(),
            self.id
        );
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(plain)
    }

    /// Parses a client's cursor; anything we did not make (or an instant
    /// no stored event can hold) is refused.
    pub fn decode(text: &str) -> Result<Self, MalformedEventCursor> {
        use base64::Engine as _;
        if text.len() > 128 {
            return Err(MalformedEventCursor);
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| MalformedEventCursor)?;
        let plain = String::from_utf8(bytes).map_err(|_| MalformedEventCursor)?;
        let parts: Vec<&str> = plain.split('|').collect();
        let [EVENT_CURSOR_VERSION, micros, id] = parts[..] else {
            return Err(MalformedEventCursor);
        };
        let micros: i64 = micros.parse().map_err(|_| MalformedEventCursor)?;
        let at = chrono::DateTime::<chrono::Utc>::from_timestamp_micros(micros)
            .filter(|at| {
                *at >= crate::task::earliest_instant() && *at <= crate::task::latest_instant()
            })
            .ok_or(MalformedEventCursor)?;
        Ok(Self {
            at,
            id: id.parse().map_err(|_| MalformedEventCursor)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_cursors_round_trip_and_garbage_is_refused() {
        let cursor = EventCursor {
            at: chrono::DateTime::from_timestamp_micros(1_800_000_000_123_456).unwrap(),
            id: EventId::new(),
        };
        assert_eq!(EventCursor::decode(&cursor.encode()), Ok(cursor));
        for bad in ["", "x", "ZTF8MXwy", &"A".repeat(200)] {
            assert_eq!(EventCursor::decode(bad), Err(MalformedEventCursor), "{bad}");
        }
        use base64::Engine as _;
        let far = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
            "e1|{}|{}",
            i64::MAX,
            EventId::new()
        ));
        assert_eq!(EventCursor::decode(&far), Err(MalformedEventCursor));
    }

    #[test]
    fn every_kind_round_trips_through_its_name() {
        for kind in SecurityEventKind::ALL {
            assert_eq!(SecurityEventKind::parse(kind.as_str()), Ok(kind));
        }
        assert_eq!(SecurityEventKind::parse("Logout"), Err(UnknownEventKind));
        assert_eq!(SecurityEventKind::parse(""), Err(UnknownEventKind));
    }

    #[test]
    fn the_names_are_the_ten_of_the_contract() {
        let names: Vec<_> = SecurityEventKind::ALL.map(|k| k.as_str()).to_vec();
        assert_eq!(
            names,
            [
                "registered",
                "login_succeeded",
                "login_failed",
                "logout",
                "session_revoked",
                "refresh_reused",
                "password_changed",
                "password_reset_requested",
                "password_reset",
                "email_verified"
            ]
        );
    }

    #[test]
    fn user_agents_are_truncated_to_512_characters_without_control_characters() {
        let long = "é".repeat(600);
        assert_eq!(
            UserAgent::from_header(&long)
                .unwrap()
                .as_str()
                .chars()
                .count(),
            512
        );
        assert_eq!(
            UserAgent::from_header("curl/8\0\u{1b}[2J")
                .unwrap()
                .as_str(),
            "curl/8[2J"
        );
        assert_eq!(UserAgent::from_header("  \t "), None);
    }
}
