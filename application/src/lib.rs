//! The todo service's use cases and the ports they need.
//!
//! Layout:
//! - [`ports`]: the traits adapters implement (repositories, hashing,
//!   tokens, the clock, the login limiter). With the `mocks` feature, each
//!   has a mockall `Mock…` twin for other crates' tests.
//! - [`use_cases`]: registration, login, logout, token authentication and
//!   the task operations. Each validates raw input into domain values and
//!   returns an [`AppError`] that a front end maps to its own answers.
//!
//! Nothing here knows about HTTP, SQL or any driver.

pub mod error;
pub mod ports;
pub mod use_cases;

pub use error::{AppError, FieldError};
pub use ports::Principal;
