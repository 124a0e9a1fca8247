//! The SQL that writes a security event inside another statement, and
//! keeps each user's events bounded while doing it.
//!
//! Every statement that records an event (registration, login, refresh
//! reuse, logout, revocations, password change, a failed login, reset
//! requests, resets, verification) appends [`event_ctes`]:
//! the insert and, in the same statement, the deletion of the user's
//! events older than `KEPT_EVENT_DAYS` days or beyond the newest
//! `KEPT_EVENTS_PER_USER` (the insert's own row included). No background
//! job, and the table's size per user has a ceiling.

use application::ports::{PendingEvent, KEPT_EVENTS_PER_USER, KEPT_EVENT_DAYS};
use domain::{ClientInfo, SecurityEventKind, Timestamp};
use std::net::IpAddr;
use tokio_postgres::types::{ToSql, Type};
use uuid::Uuid;

/// CTEs `ev_src`, `ev` and `ev_trim` (no leading `WITH`, no trailing
/// comma). `source` is a query yielding at most one row `(user_id,
/// session_id)`: the event is written for that user when it yields one,
/// with the event's own session id or else the source's. The event's six
/// parameters are numbered from `first` (see [`EventParams`]).
pub(crate) fn event_ctes(source: &str, first: usize) -> String {
    let (id, kind, at, ip, ua, sid) =
        (first, first + 1, first + 2, first + 3, first + 4, first + 5);
    // The row of the newest events that is the last one kept, besides the
    // new event (not in this statement's snapshot).
    let last_kept_offset = KEPT_EVENTS_PER_USER.saturating_sub(2);
    format!(
        "ev_src AS ({source}),
    ev AS (
        INSERT INTO security_events (id, user_id, type, at, ip, user_agent, session_id)
        SELECT ${id}, ev_src.user_id, ${kind}, ${at}, ${ip}, ${ua},
               COALESCE(${sid}, ev_src.session_id)
        FROM ev_src
        ON CONFLICT (id) DO NOTHING
    ),
    ev_trim AS (
        DELETE FROM security_events
        WHERE user_id = (SELECT user_id FROM ev_src LIMIT 1)
          AND (at < ${at} - make_interval(days => {KEPT_EVENT_DAYS})
               OR (at, id) < (SELECT k.at, k.id FROM security_events k
                              WHERE k.user_id = (SELECT user_id FROM ev_src LIMIT 1)
                              ORDER BY k.at DESC, k.id DESC
                              OFFSET {last_kept_offset} LIMIT 1))
    )"
    )
}

/// A pending event's values in the order [`event_ctes`] numbers them.
pub(crate) struct EventParams {
    id: Uuid,
    kind: &'static str,
    at: Timestamp,
    ip: Option<IpAddr>,
    user_agent: Option<String>,
    session_id: Option<Uuid>,
}

impl EventParams {
    pub(crate) fn of(event: &PendingEvent) -> Self {
        Self::new(
            event.id.as_uuid(),
            event.kind,
            event.at,
            &event.client,
            event.session_id.map(|id| id.as_uuid()),
        )
    }

    /// The event of a mail flow (registration, reset, verification): no
    /// session.
    pub(crate) fn of_client(kind: SecurityEventKind, at: Timestamp, client: &ClientInfo) -> Self {
        Self::new(Uuid::now_v7(), kind, at, client, None)
    }

    fn new(
        id: Uuid,
        kind: SecurityEventKind,
        at: Timestamp,
        client: &ClientInfo,
        session_id: Option<Uuid>,
    ) -> Self {
        Self {
            id,
            kind: kind.as_str(),
            at,
            ip: client.ip,
            user_agent: client.user_agent.as_ref().map(|ua| ua.as_str().to_owned()),
            session_id,
        }
    }

    pub(crate) fn params(&self) -> [(&(dyn ToSql + Sync), Type); 6] {
        [
            (&self.id, Type::UUID),
            (&self.kind, Type::TEXT),
            (&self.at, Type::TIMESTAMPTZ),
            (&self.ip, Type::INET),
            (&self.user_agent, Type::TEXT),
            (&self.session_id, Type::UUID),
        ]
    }
}
