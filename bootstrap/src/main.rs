//! `todo-server`: the todo REST service on Neon PostgreSQL.
//!
//! `serve` (the default) runs the service, `migrate` applies migrations and
//! exits, `check` runs every start-up check and prints a report. All of it
//! lives in the `bootstrap` library.

use std::process::ExitCode;

/// jemalloc, configured in `.cargo/config.toml` to hand freed pages back
/// to the system from a background thread within a second: large buffers
/// would otherwise stay resident after a burst of requests (Argon2id keeps
/// its own buffers, see adapters/security; glibc kept hundreds of MiB).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    bootstrap::run()
}
