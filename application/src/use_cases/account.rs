//! The caller's own account: change the password, export everything
//! stored about it, delete it. A password these ask for counts like a
//! login attempt (the same limiter), so they cannot be used to guess it.

use domain::{
    Password, SecurityEvent, SecurityEventKind, Session, Task, TaskQuery, TaskSort, User,
};

use super::auth::{client_info, AuthService};
use crate::ports::{LimitError, PendingEvent, Principal, Reservation};
use crate::telemetry::Reported;
use crate::{AppError, FieldError};

/// A password change as a front end received it.
#[derive(Debug, Clone, Default)]
pub struct ChangePasswordInput {
    pub current_password: Option<String>,
    pub new_password: Option<String>,
    pub client: Option<std::net::IpAddr>,
    pub user_agent: Option<String>,
}

/// An account deletion as a front end received it.
#[derive(Debug, Clone, Default)]
pub struct DeleteAccountInput {
    pub password: Option<String>,
    pub client: Option<std::net::IpAddr>,
}

/// Everything stored about one user (never the password hash: a front end
/// must not answer `user.password_hash`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountExport {
    pub user: User,
    /// Every stored session, ended ones included, newest first.
    pub sessions: Vec<Session>,
    /// Every task, oldest first.
    pub tasks: Vec<Task>,
    /// Every kept event, newest first.
    pub events: Vec<SecurityEvent>,
}

/// Rows read per statement while exporting.
const EXPORT_PAGE: u32 = 100;

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
            let new_password = match input.new_password.as_deref() {
                None => {
                    errors.push(FieldError::new("new_password", "is required"));
                    None
                }
                Some(raw) => Password::parse(raw)
                    .map_err(|e| errors.push(FieldError::new("new_password", e)))
                    .ok(),
            };
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

    /// Everything stored about the caller, read page by page (each page one
    /// statement that checks the session).
    pub async fn export(&self, principal: &Principal) -> Result<AccountExport, AppError> {
        let result = async {
            let now = self.clock.now();
            let user = self.sessions.active_user(principal, now).await?;
            let sessions = self.sessions.list(principal, now, true).await?;
            let mut tasks = Vec::new();
            let mut query = TaskQuery {
                sort: TaskSort::CreatedAsc,
                limit: EXPORT_PAGE,
                ..TaskQuery::default()
            };
            loop {
                let page = self.task_repo.list(principal, now, &query).await?;
                let full = page.len() == EXPORT_PAGE as usize;
                query.after = page
                    .last()
                    .map(|t| domain::Cursor::after(t, TaskSort::CreatedAsc));
                tasks.extend(page);
                if !full {
                    break;
                }
            }
            let mut events = Vec::new();
            let mut before = None;
            loop {
                let page = self
                    .events
                    .page(principal, now, before, EXPORT_PAGE)
                    .await?;
                let full = page.len() == EXPORT_PAGE as usize;
                before = page
                    .last()
                    .map(|e| crate::ports::EventPosition { at: e.at, id: e.id });
                events.extend(page);
                if !full {
                    break;
                }
            }
            Ok(AccountExport {
                user,
                sessions,
                tasks,
                events,
            })
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
