//! The caller's own account: change the password, export everything
//! stored about it, delete it. A password these ask for counts like a
//! login attempt (the same limiter), so they cannot be used to guess it.

use domain::{
    Password, SecurityEvent, SecurityEventKind, Session, Task, TaskQuery, TaskSort, User,
};

use super::admin::SinkError;
use super::auth::{client_info, AuthService};
use crate::ports::{LimitError, PendingEvent, Principal, Reservation};
use crate::telemetry::Reported;
use crate::{AppError, FieldError};

/// The `new_password` of a password change or a reset: required and
/// valid, else its field error is added to `errors`.
pub(super) fn new_password_field(
    raw: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> Option<Password> {
    let Some(raw) = raw else {
        errors.push(FieldError::new("new_password", "is required"));
        return None;
    };
    Password::parse(raw)
        .map_err(|e| errors.push(FieldError::new("new_password", e)))
        .ok()
}

/// A password change as a front end received it.
#[derive(Clone, Default)]
pub struct ChangePasswordInput {
    pub current_password: Option<String>,
    pub new_password: Option<String>,
    pub client: Option<std::net::IpAddr>,
    pub user_agent: Option<String>,
}

/// An account deletion as a front end received it.
#[derive(Clone, Default)]
pub struct DeleteAccountInput {
    pub password: Option<String>,
    pub client: Option<std::net::IpAddr>,
}

/// Receives the caller's export piece by piece, so that memory holds one
/// page at a time however much the account stores: `start` once (the user
/// and every stored session, newest first), then `tasks` once per page
/// (oldest first; at least once, maybe empty), then `events` once per page
/// (newest first; at least once, maybe empty), then `finish`. A sink error
/// stops the export.
#[async_trait::async_trait]
pub trait AccountExportSink: Send {
    async fn start(&mut self, user: &User, sessions: &[Session]) -> Result<(), SinkError>;
    async fn tasks(&mut self, tasks: &[Task]) -> Result<(), SinkError>;
    async fn events(&mut self, events: &[SecurityEvent]) -> Result<(), SinkError>;
    async fn finish(&mut self) -> Result<(), SinkError>;
}

/// Rows read per statement while exporting.
pub const ACCOUNT_EXPORT_PAGE: u32 = 100;
const EXPORT_PAGE: u32 = ACCOUNT_EXPORT_PAGE;

impl AuthService {
    /// Sets a new password when `current_password` is right, and ends the
    /// user's other sessions. A wrong one is a validation error on
    /// `current_password` and counts as a failed login for the email.
    pub async fn change_password(
        &self,
        principal: &Principal,
        input: ChangePasswordInput,
    ) -> Result<(), AppError> {
        let result = async {
            let mut errors = Vec::new();
            if input.current_password.is_none() {
                errors.push(FieldError::new("current_password", "is required"));
            }
            let new_password = new_password_field(input.new_password.as_deref(), &mut errors);
            let (Some(current), Some(new_password), true) =
                (input.current_password, new_password, errors.is_empty())
            else {
                return Err(AppError::Validation(errors));
            };
            let now = self.clock.now();
            let user = self.sessions.active_user(principal, now).await?;
            let reservation = self
                .confirm_password(&user, &current, input.client, "current_password")
                .await?;
            let outcome = async {
                let hash = self.hasher.hash(&new_password).await?;
                let client = client_info(input.client, input.user_agent.as_deref());
                let event = PendingEvent::new(
                    SecurityEventKind::PasswordChanged,
                    now,
                    &client,
                    Some(principal.session_id),
                );
                self.users
                    .change_password(principal, now, &hash, &event)
                    .await?;
                Ok(())
            }
            .await;
            self.settle(&reservation, outcome.is_ok()).await;
            outcome
        }
        .await;
        result.reported(self.telemetry.as_ref(), "auth.change_password")
    }

    /// Deletes the caller's account and everything of it when `password`
    /// is right; a wrong one is a validation error on `password` and counts
    /// as a failed login.
    pub async fn delete_account(
        &self,
        principal: &Principal,
        input: DeleteAccountInput,
    ) -> Result<(), AppError> {
        let result = async {
            let Some(password) = input.password else {
                return Err(AppError::validation("password", "is required"));
            };
            let now = self.clock.now();
            let user = self.sessions.active_user(principal, now).await?;
            let reservation = self
                .confirm_password(&user, &password, input.client, "password")
                .await?;
            let outcome = self
                .users
                .delete(principal, now)
                .await
                .map_err(AppError::from);
            self.settle(&reservation, outcome.is_ok()).await;
            outcome
        }
        .await;
        result.reported(self.telemetry.as_ref(), "auth.delete_account")
    }

    /// Hands everything stored about the caller to `sink`, page by page
    /// (each page one statement that checks the session, so a session
    /// revoked meanwhile stops the export).
    ///
    /// # Errors
    /// `Unauthorized` when the session is not active (before anything
    /// reaches the sink); `Internal` when the sink fails.
    pub async fn export(
        &self,
        principal: &Principal,
        sink: &mut dyn AccountExportSink,
    ) -> Result<(), AppError> {
        let result = async {
            let now = self.clock.now();
            let user = self.sessions.active_user(principal, now).await?;
            let sessions = self.sessions.list(principal, now, true).await?;
            sink.start(&user, &sessions)
                .await
                .map_err(AppError::Internal)?;
            let mut query = TaskQuery {
                sort: TaskSort::CreatedAsc,
                limit: EXPORT_PAGE,
                ..TaskQuery::default()
            };
            loop {
                let page = self.task_repo.list(principal, now, &query).await?;
                sink.tasks(&page).await.map_err(AppError::Internal)?;
                if page.len() < EXPORT_PAGE as usize {
                    break;
                }
                query.after = page
                    .last()
                    .map(|t| domain::Cursor::after(t, TaskSort::CreatedAsc));
            }
            let mut before = None;
            loop {
                let page = self
                    .events
                    .page(principal, now, before, EXPORT_PAGE)
                    .await?;
                sink.events(&page).await.map_err(AppError::Internal)?;
                if page.len() < EXPORT_PAGE as usize {
                    break;
                }
                before = page
                    .last()
                    .map(|e| crate::ports::EventPosition { at: e.at, id: e.id });
            }
            sink.finish().await.map_err(AppError::Internal)
        }
        .await;
        result.reported(self.telemetry.as_ref(), "auth.export")
    }

    /// Checks `password` against `user`'s as a login would: counted by the
    /// limiter first (429 once limited), then verified. A wrong password
    /// leaves the attempt counted and is a validation error on `field`.
    async fn confirm_password(
        &self,
        user: &User,
        password: &str,
        client: Option<std::net::IpAddr>,
        field: &str,
    ) -> Result<Reservation, AppError> {
        let now = self.clock.now();
        let reservation = match self.limiter.reserve(user.email.as_str(), client, now).await {
            Ok(reservation) => reservation,
            Err(LimitError::Limited { retry_after }) => {
                return Err(AppError::TooManyAttempts { retry_after })
            }
            Err(LimitError::Store(err)) => return Err(err.into()),
        };
        let verified = self
            .hasher
            .verify(&Password::for_login(password), &user.password_hash)
            .await;
        match verified {
            Ok(true) => Ok(reservation),
            Ok(false) => Err(AppError::validation(field, "is not the account's password")),
            Err(err) => {
                self.settle(&reservation, false).await;
                Err(err.into())
            }
        }
    }

    /// Settles a reservation whose password was right: cleared when the
    /// change went through, handed back when it could not be made.
    async fn settle(&self, reservation: &Reservation, succeeded: bool) {
        let settled = if succeeded {
            self.limiter.succeeded(reservation).await
        } else {
            self.limiter.release(reservation).await
        };
        if let Err(err) = settled {
            tracing::warn!(error = %err, "could not settle a password check with the limiter");
        }
    }
}

/// Shows everything but the secrets.
impl std::fmt::Debug for ChangePasswordInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangePasswordInput")
            .field("client", &self.client)
            .field("user_agent", &self.user_agent)
            .field("current_password", &"[redacted]")
            .field("new_password", &"[redacted]")
            .finish()
    }
}

/// Shows everything but the secrets.
impl std::fmt::Debug for DeleteAccountInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeleteAccountInput")
            .field("client", &self.client)
            .field("password", &"[redacted]")
            .finish()
    }
}
