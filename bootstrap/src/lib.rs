//! `todo-server`'s composition root, as a library so tests and other
//! binaries can build the service without a front end.
//!
//! Layout:
//! - [`settings`]: layered configuration (`config/*.toml`, environment).
//! - [`compose`]: [`build_services`], every use case from the settings,
//!   front-end neutral; start-up errors and their exit codes.
//! - [`front_end`]: the HTTP front end wired to those services: the only
//!   lines that name the HTTP adapter.
//! - [`check`]: `todo-server check`, the start-up checks as a report.
//! - [`admin`]: `todo-server admin …`, the operator CLI wired to the services.
//! - [`logging`]: tracing output, readable or JSON.
//! - [`run`]: the command line, as the thin binary calls it.

pub mod admin;
pub mod check;
pub mod compose;
pub mod front_end;
pub mod logging;
mod mail;
pub mod settings;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use compose::{build_services, Built, StartError};
pub use settings::{Settings, Sources};

#[derive(Parser)]
#[command(
    name = "todo-server",
    version,
    about = "Todo REST service on Neon PostgreSQL"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Clone)]
enum Command {
    /// Connect, migrate, check the schema, then serve HTTP (the default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Run every start-up check and print a report; exit 0 only if all hold.
    Check,
    /// Operator commands on one account: show, delete, revoke sessions, export.
    Admin(adapter_cli::AdminArgs),
}

/// Parses the command line and runs the command; the exit code says how
/// it went.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    let sources = Sources::from_process();
    if let Command::Check = command {
        return runtime().block_on(check::run(&sources));
    }
    if let Command::Admin(args) = command {
        return admin::run(args, &sources);
    }
    let settings = match Settings::load(&sources) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("todo-server: {err}");
            return ExitCode::from(2);
        }
    };
    logging::init(&settings.log);
    runtime().block_on(async move {
        let result = match command {
            Command::Migrate => match compose::prepare_database(&settings).await {
                Ok(db) => {
                    db.shutdown().await;
                    Ok(())
                }
                Err(err) => Err(err),
            },
            _ => serve(&settings).await,
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("todo-server: {err}");
                ExitCode::from(err.exit_code())
            }
        }
    })
}

/// Builds the services, binds the listener, serves until SIGTERM/SIGINT,
/// then closes the pool.
async fn serve(settings: &Settings) -> Result<(), StartError> {
    let built = build_services(settings).await?;
    let server = &settings.server;
    let addr = format!("{}:{}", server.host, server.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|cause| StartError::Listen { addr, cause })?;
    let addr = listener.local_addr().map_err(|cause| StartError::Listen {
        addr: "bound socket".into(),
        cause,
    })?;
    tracing::info!(%addr, "serving");
    // The one line tests and scripts wait for; stable whatever the log format.
    println!("listening on {}://{addr}", front_end::SCHEME);
    let served = front_end::serve(listener, &built, settings, compose::shutdown_signal()).await;
    built.close().await;
    served.map_err(|cause| StartError::Listen {
        addr: addr.to_string(),
        cause,
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts")
}
