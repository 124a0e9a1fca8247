//! Sessions seen from their owner: refresh (rotation with reuse
//! detection, RFC 9700 §4.14.2), the list of active sessions, revoking one,
//! and logout with a scope.

use domain::{SecurityEventKind, Session, SessionId};

use super::auth::{client_info, AuthService, LoggedIn};
use crate::opaque_token::OpaqueToken;
use crate::ports::{PendingEvent, Principal, Refreshed, RepoError, RevokeScope};
use crate::telemetry::Reported;
use crate::AppError;

/// A refresh as a front end received it.
#[derive(Clone, Default)]
pub struct RefreshInput {
    pub refresh_token: Option<String>,
    pub client: Option<std::net::IpAddr>,
    pub user_agent: Option<String>,
}

/// A logout as a front end received it: `scope` is `local` (the default),
/// `others` or `global`.
#[derive(Debug, Clone, Default)]
pub struct LogoutInput {
    pub scope: Option<String>,
    pub client: Option<std::net::IpAddr>,
    pub user_agent: Option<String>,
}

/// One of the caller's sessions, and whether it is the caller's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    pub session: Session,
    pub current: bool,
}

impl AuthService {
    /// Spends a refresh token for a new pair. A spent token presented
    /// again ends its whole session (every access token of it stops
    /// working: each request checks the session) and is refused, as is an
    /// unknown or expired one.
    pub async fn refresh(&self, input: RefreshInput) -> Result<LoggedIn, AppError> {
        self.refresh_inner(input)
            .await
            .reported(self.telemetry.as_ref(), "auth.refresh")
    }

    async fn refresh_inner(&self, input: RefreshInput) -> Result<LoggedIn, AppError> {
        let Some(presented) = input.refresh_token else {
            return Err(AppError::validation("refresh_token", "is required"));
        };
        // Not even shaped like ours: refused without a round trip.
        let presented = OpaqueToken::parse(&presented)
            .ok_or(AppError::Unauthorized)?
            .digest();
        let client = client_info(input.client, input.user_agent.as_deref());
        let now = self.clock.now();
        let next = self.new_refresh_token()?;
        let reuse = PendingEvent::new(SecurityEventKind::RefreshReused, now, &client, None);
        match self
            .sessions
            .refresh(&presented, &next.digest(), now, &reuse)
            .await?
        {
            Refreshed::Rotated { session, user } => self.logged_in(&session, user, next, now),
            Refreshed::Reused => {
                tracing::warn!("a spent refresh token was presented again; its session is revoked");
                Err(AppError::Unauthorized)
            }
            Refreshed::Invalid => Err(AppError::Unauthorized),
        }
    }

    /// The caller's active sessions, newest first, the caller's own marked.
    pub async fn sessions(&self, principal: &Principal) -> Result<Vec<SessionView>, AppError> {
        let result = self
            .sessions
            .list(principal, self.clock.now(), false)
            .await
            .map_err(AppError::from)
            .map(|sessions| {
                sessions
                    .into_iter()
                    .map(|session| SessionView {
                        current: session.id == principal.session_id,
                        session,
                    })
                    .collect()
            });
        result.reported(self.telemetry.as_ref(), "auth.sessions")
    }

    /// Revokes one of the caller's sessions by id (text as received).
    /// Another user's, an ended or an unknown session, or an id that is no
    /// id, is `NotFound`.
    pub async fn revoke_session(
        &self,
        principal: &Principal,
        id: &str,
        client: Option<std::net::IpAddr>,
        user_agent: Option<&str>,
    ) -> Result<(), AppError> {
        let result = async {
            let id: SessionId = id.parse().map_err(|_| AppError::NotFound("session"))?;
            let now = self.clock.now();
            let event = PendingEvent::new(
                SecurityEventKind::SessionRevoked,
                now,
                &client_info(client, user_agent),
                Some(id),
            );
            match self
                .sessions
                .revoke(principal, RevokeScope::One(id), now, &event)
                .await
            {
                Ok(_) => Ok(()),
                Err(RepoError::NotFound) => Err(AppError::NotFound("session")),
                Err(other) => Err(other.into()),
            }
        }
        .await;
        result.reported(self.telemetry.as_ref(), "auth.revoke_session")
    }

    /// Ends the caller's session (`local`), the user's other sessions
    /// (`others`) or all of them (`global`); their tokens are refused from
    /// then on. Any other scope is a validation error.
    pub async fn logout(&self, principal: &Principal, input: LogoutInput) -> Result<(), AppError> {
        let result = async {
            let scope = match input.scope.as_deref() {
                None | Some("local") => RevokeScope::Current,
                Some("others") => RevokeScope::Others,
                Some("global") => RevokeScope::All,
                Some(_) => {
                    return Err(AppError::validation(
                        "scope",
                        "must be local, others or global",
                    ))
                }
            };
            let now = self.clock.now();
            let kind = match scope {
                RevokeScope::Others => SecurityEventKind::SessionRevoked,
                _ => SecurityEventKind::Logout,
            };
            let client = client_info(input.client, input.user_agent.as_deref());
            let event = PendingEvent::new(kind, now, &client, Some(principal.session_id));
            self.sessions.revoke(principal, scope, now, &event).await?;
            Ok(())
        }
        .await;
        result.reported(self.telemetry.as_ref(), "auth.logout")
    }
}

/// Shows everything but the secrets.
impl std::fmt::Debug for RefreshInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshInput")
            .field("client", &self.client)
            .field("user_agent", &self.user_agent)
            .field("refresh_token", &"[redacted]")
            .finish()
    }
}
