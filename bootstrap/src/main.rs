//! `todo-server`: the todo REST service on Neon PostgreSQL.
//!
//! `serve` (the default) runs the service, `migrate` applies migrations and
//! exits, `check` runs every start-up check and prints a report, `admin`
//! runs one operator command (`admin.rs`).

mod admin;
mod app;
mod check;
mod settings;
mod telemetry;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::settings::{Settings, Sources};

/// jemalloc, configured in `.cargo/config.toml` to hand freed pages back
/// to the system from a background thread within a second: large buffers
/// would otherwise stay resident after a burst of requests (Argon2id keeps
/// its own buffers, see adapters/crypto; glibc kept hundreds of MiB).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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

fn main() -> ExitCode {
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
    telemetry::init(&settings.log);
    runtime().block_on(async move {
        let result = match command {
            Command::Migrate => app::prepare_database(&settings).await.map(|db| db.close()),
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

async fn serve(settings: &Settings) -> Result<(), app::StartError> {
    let application = app::Application::build(settings).await?;
    let addr = application
        .local_addr()
        .map_err(|cause| app::StartError::Listen {
            addr: "bound socket".into(),
            cause,
        })?;
    tracing::info!(%addr, "serving");
    // The one line tests and scripts wait for; stable whatever the log format.
    println!("listening on http://{addr}");
    application
        .run_until(app::shutdown_signal())
        .await
        .map_err(|cause| app::StartError::Listen {
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
