//! The JSON shapes of the v1 account additions: refresh, sessions,
//! password change, deletion, export and security events.

use application::use_cases::{EventPage, SessionView};
use domain::{SecurityEvent, Session};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::bodies::{rfc3339, TaskBody, UserBody};

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct RefreshRequest {
    /// The refresh token of the last login or refresh.
    #[schema(value_type = String)]
    pub(crate) refresh_token: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct ChangePasswordRequest {
    #[schema(value_type = String)]
    pub(crate) current_password: Option<String>,
    #[schema(value_type = String, min_length = 8, max_length = 128)]
    pub(crate) new_password: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct DeleteAccountRequest {
    #[schema(value_type = String)]
    pub(crate) password: Option<String>,
}

/// `POST /api/v1/auth/logout` query.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LogoutQuery {
    /// `local` (default): this session; `others`: every other session of
    /// the user; `global`: all of them.
    #[param(value_type = Option<String>, pattern = "^(local|others|global)$")]
    pub(crate) scope: Option<String>,
}

/// `GET /api/v1/auth/events` query.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventsQuery {
    /// Page size, 1 to 100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub(crate) limit: Option<String>,
    /// Opaque: the `next_cursor` of the previous page.
    #[param(max_length = 128)]
    pub(crate) cursor: Option<String>,
}

/// One session as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SessionBody {
    pub(crate) id: Uuid,
    #[schema(value_type = String, format = DateTime)]
    pub(crate) created_at: String,
    /// The login or the last refresh (not every request).
    #[schema(value_type = String, format = DateTime)]
    pub(crate) last_used_at: String,
    #[schema(value_type = String, format = DateTime)]
    pub(crate) expires_at: String,
    #[schema(required = true, max_length = 512)]
    pub(crate) user_agent: Option<String>,
    #[schema(required = true)]
    pub(crate) ip: Option<String>,
    /// Whether this is the caller's own session.
    pub(crate) current: bool,
}

impl SessionBody {
    pub(crate) fn of(session: &Session, current: bool) -> Self {
        Self {
            id: session.id.as_uuid(),
            created_at: rfc3339(&session.created_at),
            last_used_at: rfc3339(&session.last_used_at),
            expires_at: rfc3339(&session.expires_at),
            user_agent: session.user_agent.as_ref().map(|ua| ua.as_str().to_owned()),
            ip: session.ip.map(|ip| ip.to_string()),
            current,
        }
    }
}

impl From<&SessionView> for SessionBody {
    fn from(view: &SessionView) -> Self {
        Self::of(&view.session, view.current)
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SessionListBody {
    pub(crate) items: Vec<SessionBody>,
}

/// A stored session in an export: ended ones too, with when they ended.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ExportedSessionBody {
    #[serde(flatten)]
    pub(crate) session: SessionBody,
    #[schema(required = true, value_type = Option<String>, format = DateTime)]
    pub(crate) revoked_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventBody {
    pub(crate) id: Uuid,
    /// `registered`, `login_succeeded`, `login_failed`, `logout`,
    /// `session_revoked`, `refresh_reused`, `password_changed`,
    /// `password_reset_requested`, `password_reset` or `email_verified`.
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    #[schema(value_type = String, format = DateTime)]
    pub(crate) at: String,
    #[schema(required = true)]
    pub(crate) ip: Option<String>,
    #[schema(required = true)]
    pub(crate) user_agent: Option<String>,
    #[schema(required = true)]
    pub(crate) session_id: Option<Uuid>,
}

impl From<&SecurityEvent> for EventBody {
    fn from(event: &SecurityEvent) -> Self {
        Self {
            id: event.id.as_uuid(),
            kind: event.kind.as_str(),
            at: rfc3339(&event.at),
            ip: event.ip.map(|ip| ip.to_string()),
            user_agent: event.user_agent.as_ref().map(|ua| ua.as_str().to_owned()),
            session_id: event.session_id.map(|id| id.as_uuid()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventListBody {
    pub(crate) items: Vec<EventBody>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[schema(required = true)]
    pub(crate) next_cursor: Option<String>,
}

impl From<&EventPage> for EventListBody {
    fn from(page: &EventPage) -> Self {
        Self {
            items: page.items.iter().map(EventBody::from).collect(),
            next_cursor: page.next_cursor.clone(),
        }
    }
}

/// Everything stored about the caller: the shape of the streamed answer
/// (`export_stream` writes it piece by piece), for the OpenAPI document.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)] // never built: the answer is streamed, not serialized whole
pub(crate) struct ExportBody {
    pub(crate) user: UserBody,
    pub(crate) sessions: Vec<ExportedSessionBody>,
    pub(crate) tasks: Vec<TaskBody>,
    pub(crate) events: Vec<EventBody>,
}
