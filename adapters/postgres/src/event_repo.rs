//! [`SecurityEventRepo`] on PostgreSQL: the events no other write carries
//! (a failed login) and the owner's keyset pages.

use std::sync::LazyLock;

use application::ports::{EventPosition, PendingEvent, Principal, RepoError, SecurityEventRepo};
use async_trait::async_trait;
use domain::{Email, SecurityEvent, Timestamp};
use tokio_postgres::types::{ToSql, Type};
use uuid::Uuid;

use crate::event_sql::{event_ctes, EventParams};
use crate::pool::{Executor, Replay};
use crate::rows::{active_rows, event_at, EVENT_COLUMNS};
use crate::task_repo::SESSION_CTE;

pub(crate) struct PgEventRepo {
    executor: Executor,
}

impl PgEventRepo {
    pub(crate) fn new(executor: Executor) -> Self {
        Self { executor }
    }
}

/// Writes the event ($2..) for the account with email $1, if any: the same
/// index lookup whether or not it exists. Safe to replay (the event id).
static RECORD_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH {events}
    SELECT 1",
        events = event_ctes(
            "SELECT id AS user_id, NULL::uuid AS session_id FROM users
             WHERE lower(email) = lower($1)",
            2
        ),
    )
});

/// The principal's events ($1..$3 the session check), newest first,
/// strictly older than ($4, $5) when given, at most $6.
static PAGE_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{SESSION_CTE}
    SELECT s.ok, {e}
    FROM s
    LEFT JOIN LATERAL (
        SELECT {EVENT_COLUMNS} FROM security_events
        WHERE s.ok AND user_id = $2
          AND ($4::timestamptz IS NULL OR (at, id) < ($4, $5))
        ORDER BY at DESC, id DESC
        LIMIT $6
    ) AS e ON true
    ORDER BY e.at DESC, e.id DESC",
        e = EVENT_COLUMNS
            .split(", ")
            .map(|c| format!("e.{c}"))
            .collect::<Vec<_>>()
            .join(", "),
    )
});

#[async_trait]
impl SecurityEventRepo for PgEventRepo {
    #[tracing::instrument(skip_all, fields(kind = %event.kind))]
    async fn record_for_email(&self, email: &Email, event: &PendingEvent) -> Result<(), RepoError> {
        let email = email.as_str();
        let event = EventParams::of(event);
        let mut params: Vec<(&(dyn ToSql + Sync), Type)> = vec![(&email, Type::TEXT)];
        params.extend(event.params());
        self.executor
            .query(&RECORD_SQL, &params, Replay::Safe)
            .await?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(session_id = %principal.session_id))]
    async fn page(
        &self,
        principal: &Principal,
        now: Timestamp,
        before: Option<EventPosition>,
        limit: u32,
    ) -> Result<Vec<SecurityEvent>, RepoError> {
        let session_id = principal.session_id.as_uuid();
        let user_id = principal.user_id.as_uuid();
        let before_at = before.map(|b| b.at);
        let before_id: Option<Uuid> = before.map(|b| b.id.as_uuid());
        let limit = i64::from(limit);
        let rows = self
            .executor
            .query(
                &PAGE_SQL,
                &[
                    (&session_id, Type::UUID),
                    (&user_id, Type::UUID),
                    (&now, Type::TIMESTAMPTZ),
                    (&before_at, Type::TIMESTAMPTZ),
                    (&before_id, Type::UUID),
                    (&limit, Type::INT8),
                ],
                Replay::Safe,
            )
            .await?;
        active_rows(&rows, event_at)
    }
}
