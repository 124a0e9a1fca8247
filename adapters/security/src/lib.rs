//! Adapters for the security ports: Argon2id password hashing, HS256 JWT
//! tokens and the system clock. (The failed-login limiter lives in
//! PostgreSQL, shared by every replica: `adapter_postgres`.)
//!
//! - [`Argon2Hasher`] (`argon2_hasher`): `PasswordHasher`, off the async
//!   workers, bounded to one hash per CPU and a bounded queue.
//! - [`JwtTokenService`] (`jwt_tokens`): `TokenService`, HS256 pinned,
//!   expiry judged at the caller's `now`.
//! - [`OsRandom`] (`random_tokens`): `SecretSource`, 256 bits from the OS
//!   CSPRNG for every opaque token (refresh tokens, mailed tokens).
//! - [`SystemClock`] (`system_clock`): `Clock`, microsecond precision.

mod argon2_hasher;
mod block_pool;
mod jwt_tokens;
mod random_tokens;
mod system_clock;

pub use argon2_hasher::{Argon2Hasher, DEFAULT_QUEUED_PER_CPU};
pub use jwt_tokens::{JwtConfigError, JwtTokenService, MIN_SECRET_BYTES};
pub use random_tokens::OsRandom;
pub use system_clock::SystemClock;
