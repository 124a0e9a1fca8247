//! `todo-server admin …`: the operator's front end, a second driving
//! adapter next to `adapter-http`. It parses arguments, asks for
//! confirmation where needed, calls [`AdminService`] and prints; every rule
//! (email parsing, what an account is, what is deleted or revoked) lives in
//! `application`. It depends on no HTTP crate and on no database driver.
//!
//! Layout:
//! - [`args`]: the clap commands, flattened into the binary's own parser.
//! - [`prompt`]: the delete confirmation (a terminal, or a refusal without one).
//! - `render`: what each command prints (text, or JSON for `export`).
//! - [`error`]: [`AdminError`], one line and one exit code per outcome.

pub mod args;
pub mod error;
pub mod prompt;
mod render;

use std::io::Write;

use application::use_cases::AdminService;

pub use args::{AdminArgs, AdminCommand, SessionsCommand, UserCommand};
pub use error::AdminError;
pub use prompt::{Prompt, TerminalPrompt};

/// Runs one admin command: results go to `out` (stdout), questions through
/// `prompt`. The caller prints the error as `todo-server: {err}` and exits
/// with [`AdminError::exit_code`].
pub async fn run(
    args: AdminArgs,
    admin: &AdminService,
    out: &mut (dyn Write + Send),
    prompt: &mut dyn Prompt,
) -> Result<(), AdminError> {
    match args.command {
        AdminCommand::User {
            command: UserCommand::Show { email },
        } => {
            let summary = admin
                .show_account(&email)
                .await
                .map_err(|e| AdminError::from_app(e, &email))?;
            render::summary(out, &summary).map_err(output)
        }
        AdminCommand::User {
            command: UserCommand::Delete { email, yes },
        } => {
            if !yes {
                confirm_delete(admin, &email, prompt).await?;
            }
            let deleted = admin
                .delete_account(&email)
                .await
                .map_err(|e| AdminError::from_app(e, &email))?;
            render::deleted(out, &deleted).map_err(output)
        }
        AdminCommand::Sessions {
            command: SessionsCommand::Revoke { email },
        } => {
            let revoked = admin
                .revoke_sessions(&email)
                .await
                .map_err(|e| AdminError::from_app(e, &email))?;
            render::revoked(out, email.trim(), revoked).map_err(output)
        }
        AdminCommand::Export { email } => {
            let mut sink = render::JsonExport::new(out);
            let result = admin.export_account(&email, &mut sink).await;
            // A write error is the sink's: report it as output, not storage.
            if let Some(err) = sink.take_error() {
                return Err(AdminError::Output(err));
            }
            result.map_err(|e| AdminError::from_app(e, &email))?;
            sink.finish().map_err(AdminError::Output)
        }
    }
}

fn output(err: std::io::Error) -> AdminError {
    AdminError::Output(Box::new(err))
}

/// Without `--yes`: shows what would go and asks on a terminal; without a
/// terminal, refuses (a script must say `--yes`).
async fn confirm_delete(
    admin: &AdminService,
    email: &str,
    prompt: &mut dyn Prompt,
) -> Result<(), AdminError> {
    if !prompt.is_interactive() {
        return Err(AdminError::NotConfirmed(
            "stdin is not a terminal: pass --yes to delete without asking",
        ));
    }
    let summary = admin
        .show_account(email)
        .await
        .map_err(|e| AdminError::from_app(e, email))?;
    let question = format!(
        "Delete account {} ({}) with {} and {}? This cannot be undone. Type \"yes\" to delete: ",
        summary.account.email.as_str(),
        summary.account.id,
        render::counted(summary.tasks, "task"),
        render::counted(summary.active_sessions, "active session")
    );
    let answer = prompt.ask(&question).map_err(output)?;
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(AdminError::NotConfirmed("the answer was not \"yes\""))
    }
}

#[cfg(test)]
mod tests;
