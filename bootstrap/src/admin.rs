//! `todo-server admin …`: the operator CLI (`adapter-cli`) wired to the
//! same configuration, database rules and start-up checks as `serve`
//! (connect with retries, migrate, check the schema), then one command.

use std::process::ExitCode;
use std::sync::Arc;

use adapter_cli::{AdminArgs, TerminalPrompt};
use adapter_security::SystemClock;
use application::use_cases::AdminService;

use crate::compose;
use crate::logging;
use crate::settings::{Settings, Sources};

/// Runs one admin command; failures are one `todo-server: …` line on
/// stderr and a non-zero exit (start-up failures with `serve`'s codes).
pub fn run(args: AdminArgs, sources: &Sources) -> ExitCode {
    let settings = match Settings::load(sources) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("todo-server: {err}");
            return ExitCode::from(2);
        }
    };
    logging::init(&settings.log);
    crate::runtime().block_on(async move {
        let database = match compose::prepare_database(&settings).await {
            Ok(database) => database,
            Err(err) => {
                eprintln!("todo-server: {err}");
                return ExitCode::from(err.exit_code());
            }
        };
        let admin = AdminService::new(database.account_repo(), Arc::new(SystemClock));
        let mut stdout = std::io::stdout();
        let result = adapter_cli::run(args, &admin, &mut stdout, &mut TerminalPrompt).await;
        database.close();
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("todo-server: {err}");
                ExitCode::from(err.exit_code())
            }
        }
    })
}
