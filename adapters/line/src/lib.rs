//! A second front end, as small as it gets: one command per line over TCP.
//! It exists to prove the README's "Swapping the HTTP front end" steps (it
//! was written from them alone) and is not wired into `todo-server`.
//!
//! Layout:
//! - [`serve`]: the accept loop, the bound on connections, shutdown and
//!   its grace period (the same shape as `adapter_http::serve`).
//! - [`LineSettings`]: its part of the `[server]` section, read by serde.
//! - `protocol`: one request line in, one answer out; parsing and
//!   rendering only, every rule is a use case's.
//!
//! The protocol (UTF-8 lines ending in `\n`):
//!
//! ```text
//! HEALTH                     -> OK ready
//! LOGIN <email> <password>   -> OK <token> <expires_at>
//! TASKS <token>              -> OK <n>, then n lines: <id> <open|done> <title>
//! QUIT                       -> OK bye (and the connection closes)
//! anything failing           -> ERR <code> <message>
//! ```
//!
//! `<code>` is one word per [`application::AppError`] kind, `<message>` its
//! `client_message()`. Titles are written with `escape_debug`, so a stored
//! line break cannot end an answer line early.

mod protocol;
mod server;
mod settings;

pub use server::serve;
pub use settings::LineSettings;
