//! `latency-proxy`: puts network distance between the service and
//! PostgreSQL. Every chunk is forwarded `--delay-ms` after it was read, in
//! each direction, in order (10 ms each way = a 20 ms round trip). For
//! fault tests it can also cut, refuse and partition connections on demand
//! (SIGUSR1, `--cut-file`, or `--control` HTTP; see `control.rs`).
//!
//! Prints `listening on <addr>` on stdout once it accepts connections
//! (`--listen 127.0.0.1:0` picks a free port).

mod control;
mod relay;
mod state;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use tokio::net::TcpListener;

use crate::state::State;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "TCP proxy adding a fixed one-way delay in each direction"
)]
struct Cli {
    /// Address to accept connections on, e.g. 127.0.0.1:0.
    #[arg(long)]
    listen: String,
    /// Where to forward them, e.g. localhost:55432.
    #[arg(long)]
    target: String,
    /// One-way delay in milliseconds, applied in each direction (fractions allowed).
    #[arg(long, default_value_t = 10.0)]
    delay_ms: f64,
    /// Plain-HTTP control endpoint, e.g. 127.0.0.1:0 (prints `control on <addr>`).
    #[arg(long)]
    control: Option<String>,
    /// Do not add the TCP handshake's round trip to new connections (see relay.rs).
    #[arg(long)]
    no_handshake_delay: bool,
    /// While this file exists, live connections are cut and new ones refused.
    #[arg(long)]
    cut_file: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    if !(cli.delay_ms.is_finite() && cli.delay_ms >= 0.0) {
        eprintln!("latency-proxy: --delay-ms must be a non-negative number");
        std::process::exit(2);
    }
    let state = Arc::new(State::new(Duration::from_secs_f64(cli.delay_ms / 1000.0)));
    control::spawn_signal(Arc::clone(&state))?;
    if let Some(path) = cli.cut_file {
        control::spawn_flag_file(path, Arc::clone(&state));
    }
    if let Some(addr) = cli.control {
        let listener = TcpListener::bind(&addr).await?;
        println!("control on http://{}", listener.local_addr()?);
        control::spawn_http(listener, Arc::clone(&state));
    }
    let listener = TcpListener::bind(&cli.listen).await?;
    println!("listening on {}", listener.local_addr()?);
    let target: Arc<str> = cli.target.into();
    let handshake = !cli.no_handshake_delay;
    loop {
        let (client, peer) = listener.accept().await?;
        if state.refusing() {
            drop(client);
            continue;
        }
        let state = Arc::clone(&state);
        let target = Arc::clone(&target);
        tokio::spawn(async move {
            state.opened();
            if let Err(e) = relay::relay(client, &target, handshake, Arc::clone(&state)).await {
                eprintln!("latency-proxy: connection from {peer}: {e}");
            }
            state.closed();
        });
    }
}
