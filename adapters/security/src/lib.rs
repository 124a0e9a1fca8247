//! Adapters for the security ports: Argon2id password hashing, HS256 JWT
//! tokens, the system clock and the in-memory failed-login limiter.
//!
//! - [`Argon2Hasher`] (`argon2_hasher`): `PasswordHasher`, off the async
//!   workers and bounded to one hash per CPU.
//! - [`JwtTokenService`] (`jwt_tokens`): `TokenService`, HS256 pinned,
//!   expiry judged at the caller's `now`.
//! - [`SystemClock`] (`system_clock`): `Clock`, microsecond precision.
//! - [`InMemoryLoginLimiter`] (`login_limiter`): `LoginLimiter`, per email
//!   and per client address.

mod argon2_hasher;
mod block_pool;
mod jwt_tokens;
mod login_limiter;
mod system_clock;

pub use argon2_hasher::Argon2Hasher;
pub use jwt_tokens::{JwtConfigError, JwtTokenService, MIN_SECRET_BYTES};
pub use login_limiter::{InMemoryLoginLimiter, LoginLimits, DEFAULT_MAX_TRACKED_KEYS};
pub use system_clock::SystemClock;
