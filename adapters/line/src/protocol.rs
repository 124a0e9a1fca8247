//! One request line in, one answer out. Parsing and rendering only: every
//! check and every message comes from the use cases.

use std::fmt::Write as _;
use std::net::IpAddr;

use application::timestamps::rfc3339;
use application::use_cases::{ListTasksInput, LoginInput};
use application::{AppError, Services};

/// What to write back, and whether the connection ends after it.
pub(crate) struct Answer {
    pub(crate) text: String,
    pub(crate) close: bool,
}

impl Answer {
    fn ok(text: impl Into<String>) -> Self {
        Self {
            text: format!("OK {}\n", text.into()),
            close: false,
        }
    }

    fn err(code: &str, message: &str) -> Self {
        Self {
            text: format!("ERR {code} {message}\n"),
            close: false,
        }
    }

    /// A refusal before any use case ran (the line itself is wrong).
    pub(crate) fn bad_request(message: &str) -> Self {
        Self::err("bad_request", message)
    }

    fn failed(error: &AppError) -> Self {
        let mut message = error.client_message();
        match error {
            AppError::Validation(fields) => {
                for field in fields {
                    let _ = write!(message, "; {}: {}", field.field, field.message);
                }
            }
            AppError::TooManyAttempts { retry_after } | AppError::Unavailable { retry_after } => {
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                let _ = write!(message, " (retry after {secs} s)");
            }
            _ => {}
        }
        Self::err(code(error), &message)
    }
}

/// The protocol's word for each kind of failure.
fn code(error: &AppError) -> &'static str {
    match error {
        AppError::Unauthorized => "unauthorized",
        AppError::InvalidCredentials => "invalid_credentials",
        AppError::NotFound(_) => "not_found",
        AppError::Conflict(_) => "conflict",
        AppError::PreconditionFailed { .. } => "precondition_failed",
        AppError::Validation(_) => "invalid",
        AppError::InvalidToken => "invalid_token",
        AppError::TooManyAttempts { .. } => "too_many_attempts",
        AppError::Unavailable { .. } => "unavailable",
        AppError::Internal(_) => "internal",
    }
}

/// Answers one request line (without its `\n`) from `client`.
pub(crate) async fn answer(services: &Services, line: &str, client: IpAddr) -> Answer {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let (command, rest) = line.split_once(' ').unwrap_or((line, ""));
    let result = match command {
        "HEALTH" => health(services).await,
        "LOGIN" => login(services, rest, client).await,
        "TASKS" => tasks(services, rest).await,
        "QUIT" => {
            return Answer {
                close: true,
                ..Answer::ok("bye")
            }
        }
        _ => return Answer::bad_request("unknown command; use HEALTH, LOGIN, TASKS or QUIT"),
    };
    result.unwrap_or_else(|error| Answer::failed(&error))
}

async fn health(services: &Services) -> Result<Answer, AppError> {
    if services.readiness.database_ready().await {
        Ok(Answer::ok("ready"))
    } else {
        Ok(Answer::err("unavailable", "the database is not ready"))
    }
}

/// `LOGIN <email> <password>`: the password is the rest of the line, so
/// it may hold spaces. An absent part reaches the use case as `None`,
/// which names it.
async fn login(services: &Services, rest: &str, client: IpAddr) -> Result<Answer, AppError> {
    let mut parts = rest.splitn(2, ' ');
    let present = |part: Option<&str>| part.filter(|p| !p.is_empty()).map(str::to_owned);
    // Whatever this protocol cannot carry (fields the input may gain)
    // stays at its default.
    #[allow(clippy::needless_update)]
    let input = LoginInput {
        email: present(parts.next()),
        password: present(parts.next()),
        client: Some(client),
        ..LoginInput::default()
    };
    let logged_in = services.auth.login(input).await?;
    Ok(Answer::ok(format!(
        "{} {}",
        logged_in.access_token,
        rfc3339(&logged_in.expires_at)
    )))
}

/// `TASKS <token>`: the caller's first page of tasks, in the default order.
async fn tasks(services: &Services, token: &str) -> Result<Answer, AppError> {
    let principal = services.auth.principal(token.trim())?;
    let page = services
        .tasks
        .list(&principal, ListTasksInput::default())
        .await?;
    let mut text = format!("OK {}\n", page.items.len());
    for task in &page.items {
        let state = if task.completed { "done" } else { "open" };
        let title = task.title.as_str().escape_debug();
        let _ = writeln!(text, "{} {state} {title}", task.id);
    }
    Ok(Answer { text, close: false })
}
