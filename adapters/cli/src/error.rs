//! What an admin command can end with, as one line and an exit code.
//!
//! Exit codes (documented in the README, "Operator CLI"): 0 done; 2 bad
//! arguments (as clap and the configuration use); 40 no account with that
//! email; 41 deletion not confirmed; 42 the database is unavailable; 43
//! anything else (storage failure, stdout closed). Start-up failures keep
//! `serve`'s codes.

use application::AppError;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("invalid {field}: {message}")]
    InvalidArgument { field: String, message: String },
    #[error("no account with email {0}")]
    UnknownAccount(String),
    #[error("not deleted: {0}")]
    NotConfirmed(&'static str),
    #[error("the database is unavailable; try again")]
    Unavailable,
    #[error("cannot write the output: {0}")]
    Output(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("the command failed: {0}")]
    Failed(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl AdminError {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::InvalidArgument { .. } => 2,
            Self::UnknownAccount(_) => 40,
            Self::NotConfirmed(_) => 41,
            Self::Unavailable => 42,
            Self::Output(_) | Self::Failed(_) => 43,
        }
    }

    /// Translates a use case's error; `email` is what the operator typed.
    pub(crate) fn from_app(err: AppError, email: &str) -> Self {
        match err {
            AppError::NotFound(_) => Self::UnknownAccount(email.trim().to_owned()),
            AppError::Validation(errors) => {
                let (field, message) = errors
                    .into_iter()
                    .next()
                    .map(|e| (e.field, e.message))
                    .unwrap_or_else(|| ("argument".into(), "is not valid".into()));
                Self::InvalidArgument { field, message }
            }
            AppError::Unavailable { .. } => Self::Unavailable,
            AppError::Internal(cause) => Self::Failed(cause),
            other => Self::Failed(other.to_string().into()),
        }
    }
}
