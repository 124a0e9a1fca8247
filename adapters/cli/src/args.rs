//! The `admin` command tree, as clap parses it.

use clap::{Args, Subcommand};

/// `todo-server admin …`: operator commands on one account, by email.
#[derive(Debug, Clone, Args)]
pub struct AdminArgs {
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum AdminCommand {
    /// Show or delete an account.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Act on an account's login sessions.
    Sessions {
        #[command(subcommand)]
        command: SessionsCommand,
    },
    /// Print the account and all its tasks as JSON on stdout.
    Export {
        /// The account's email (compared case-insensitively).
        email: String,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum UserCommand {
    /// Id, email, creation time, number of tasks and of active sessions.
    Show {
        /// The account's email (compared case-insensitively).
        email: String,
    },
    /// Delete the account with its sessions and tasks.
    Delete {
        /// The account's email (compared case-insensitively).
        email: String,
        /// Do not ask. Without it, a terminal is asked to confirm and
        /// anything else is refused.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum SessionsCommand {
    /// Revoke every active session: their tokens are refused at once.
    Revoke {
        /// The account's email (compared case-insensitively).
        email: String,
    },
}
