//! Argon2id password hashing on tokio's blocking pool, a few at a time.
//!
//! One hash costs ~19 MiB and tens of milliseconds of CPU. Running it on an
//! async worker would stall every other request on that worker, so it runs
//! under `spawn_blocking`; a semaphore sized to the CPU count makes a burst
//! of logins queue instead of flooding the blocking pool (and memory).
//!
//! The queue itself is bounded: past `max_queued` hashes waiting, a call is
//! refused at once with `HashError::Busy` (503 with `Retry-After`), so a
//! burst costs a legitimate login at most the queue's length in waiting,
//! never an unbounded delay.

use std::sync::Arc;
use std::time::Duration;

use application::ports::{HashError, PasswordHasher};
use argon2::password_hash::Output;
use argon2::password_hash::{
    rand_core::{OsRng, RngCore},
    PasswordHash as PhcString, PasswordHasher as _, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use domain::{Password, PasswordHash};
use tokio::sync::Semaphore;

use crate::block_pool::BlockPool;

/// Working buffers are freed after this long without a login.
const IDLE_BUFFERS_FREED_AFTER: Duration = Duration::from_secs(2);

/// Memory cost in KiB (19 MiB), the OWASP recommendation for Argon2id.
const MEMORY_KIB: u32 = 19_456;
/// Iterations.
const TIME_COST: u32 = 2;
/// Lanes.
const PARALLELISM: u32 = 1;

/// Hashes allowed to wait per CPU by default, on top of the running ones:
/// at ~25 ms a hash, a full queue is ~100 ms of waiting.
pub const DEFAULT_QUEUED_PER_CPU: usize = 4;

/// What a caller refused for a full queue is told to wait.
const BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Argon2id (m = 19456 KiB, t = 2, p = 1) behind the `PasswordHasher` port.
/// Cheap to clone: clones share the same permits and dummy hash.
#[derive(Clone)]
pub struct Argon2Hasher {
    argon2: Argon2<'static>,
    /// One per hash running.
    permits: Arc<Semaphore>,
    /// One per hash running or waiting: none left means the queue is full.
    admissions: Arc<Semaphore>,
    dummy: PasswordHash,
    blocks: BlockPool,
}

impl std::fmt::Debug for Argon2Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Argon2Hasher")
            .field(
                "params",
                &format_args!("m={MEMORY_KIB},t={TIME_COST},p={PARALLELISM}"),
            )
            .field("available_permits", &self.permits.available_permits())
            .finish_non_exhaustive()
    }
}

impl Argon2Hasher {
    /// A hasher running at most one hash per CPU at a time, with
    /// [`DEFAULT_QUEUED_PER_CPU`] more allowed to wait per CPU.
    ///
    /// Computes the dummy hash once, synchronously (one full hash): call it
    /// at start-up, not on a request path.
    pub fn new() -> Result<Self, HashError> {
        Self::with_queued_per_cpu(DEFAULT_QUEUED_PER_CPU)
    }

    /// One hash per CPU at a time, `queued_per_cpu` more waiting per CPU.
    pub fn with_queued_per_cpu(queued_per_cpu: usize) -> Result<Self, HashError> {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::with_limits(cpus, cpus.saturating_mul(queued_per_cpu))
    }

    /// A hasher running at most `max_concurrent` (at least 1) hashes at
    /// once, with at most `max_queued` more waiting; beyond that, `Busy`.
    pub fn with_limits(max_concurrent: usize, max_queued: usize) -> Result<Self, HashError> {
        let params = Params::new(MEMORY_KIB, TIME_COST, PARALLELISM, None)
            .map_err(|e| HashError::Failed(format!("argon2 parameters: {e}")))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);

        let mut unknowable = [0u8; 32];
        OsRng.fill_bytes(&mut unknowable);
        let dummy = hash_with(&argon2, &unknowable)?;

        Ok(Self {
            argon2,
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            admissions: Arc::new(Semaphore::new(
                max_concurrent.max(1).saturating_add(max_queued),
            )),
            dummy,
            blocks: BlockPool::new(IDLE_BUFFERS_FREED_AFTER),
        })
    }

    /// Runs `work` on the blocking pool once a permit is free, or refuses
    /// at once with `Busy` when the queue is full. The permits move into the
    /// blocking task, so they are released when the CPU work ends, even if
    /// the caller stops waiting (client gone) before that; a caller that
    /// gives up while queued frees its place in the queue.
    async fn run_blocking<T, F>(&self, work: F) -> Result<T, HashError>
    where
        T: Send + 'static,
        F: FnOnce(&Argon2<'static>) -> Result<T, HashError> + Send + 'static,
    {
        let admission = Arc::clone(&self.admissions)
            .try_acquire_owned()
            .map_err(|_| HashError::Busy {
                retry_after: BUSY_RETRY_AFTER,
            })?;
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| HashError::Failed("hasher is shut down".into()))?;
        let argon2 = self.argon2.clone();
        tokio::task::spawn_blocking(move || {
            let _held = (admission, permit);
            work(&argon2)
        })
        .await
        .map_err(|e| HashError::Failed(format!("hashing task did not finish: {e}")))?
    }
}

fn hash_with(argon2: &Argon2<'_>, password: &[u8]) -> Result<PasswordHash, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2
        .hash_password(password, &salt)
        .map(|phc| PasswordHash::new(phc.to_string()))
        .map_err(|e| HashError::Failed(format!("argon2 hashing: {e}")))
}

/// `Ok(false)` for a wrong password; `Err` when `stored` is not an Argon2id
/// PHC string with a salt and an output (a corrupt row, not a mismatch).
/// Runs in reused working memory (see `block_pool`); the parameters come
/// from the stored hash, so hashes made with older parameters still verify.
fn verify_with(blocks: &BlockPool, password: &[u8], stored: &str) -> Result<bool, HashError> {
    let phc = PhcString::new(stored)
        .map_err(|e| HashError::Failed(format!("malformed stored hash: {e}")))?;
    if phc.algorithm != argon2::ARGON2ID_IDENT {
        return Err(HashError::Failed(format!(
            "stored hash uses {}, expected argon2id",
            phc.algorithm
        )));
    }
    if phc.salt.is_none() || phc.hash.is_none() {
        return Err(HashError::Failed(
            "malformed stored hash: no salt or output".into(),
        ));
    }
    let params = Params::try_from(&phc)
        .map_err(|e| HashError::Failed(format!("stored hash parameters: {e}")))?;
    let version = match phc.version {
        None => Version::V0x13,
        Some(v) => Version::try_from(v)
            .map_err(|e| HashError::Failed(format!("stored hash version: {e}")))?,
    };
    let (Some(salt), Some(expected)) = (phc.salt, phc.hash) else {
        return Err(HashError::Failed(
            "malformed stored hash: no salt or output".into(),
        ));
    };
    let mut salt_buf = [0u8; 64];
    let salt = salt
        .decode_b64(&mut salt_buf)
        .map_err(|e| HashError::Failed(format!("stored hash salt: {e}")))?;
    let mut out = vec![0u8; expected.len()];
    let mut working = blocks.take(params.block_count());
    let computed = Argon2::new(Algorithm::Argon2id, version, params)
        .hash_password_into_with_memory(password, salt, &mut out, &mut working[..]);
    blocks.put(working);
    computed.map_err(|e| HashError::Failed(format!("argon2 verification: {e}")))?;
    let out = Output::new(&out).map_err(|e| HashError::Failed(format!("argon2 output: {e}")))?;
    // Output's equality is constant-time.
    Ok(out == expected)
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        let password = password.clone();
        self.run_blocking(move |argon2| hash_with(argon2, password.expose().as_bytes()))
            .await
    }

    async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool, HashError> {
        let password = password.clone();
        let stored = hash.as_str().to_owned();
        let blocks = self.blocks.clone();
        self.run_blocking(move |_| verify_with(&blocks, password.expose().as_bytes(), &stored))
            .await
    }

    fn dummy_hash(&self) -> PasswordHash {
        self.dummy.clone()
    }

    fn busy(&self) -> Option<Duration> {
        (self.admissions.available_permits() == 0).then_some(BUSY_RETRY_AFTER)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> Argon2Hasher {
        Argon2Hasher::new().expect("hasher")
    }

    fn password(raw: &str) -> Password {
        Password::parse(raw).expect("valid password")
    }

    #[tokio::test]
    async fn hash_is_an_argon2id_phc_string_with_the_production_parameters() {
        let hash = hasher().hash(&password("correct horse")).await.unwrap();
        assert!(
            hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            hash.as_str()
        );
        assert!(!hash.as_str().contains("correct horse"));
    }

    #[tokio::test]
    async fn same_password_hashes_differently_each_time() {
        let hasher = hasher();
        let a = hasher.hash(&password("correct horse")).await.unwrap();
        let b = hasher.hash(&password("correct horse")).await.unwrap();
        assert_ne!(a, b, "salts must be random");
    }

    #[tokio::test]
    async fn verify_accepts_the_right_password_and_refuses_a_wrong_one() {
        let hasher = hasher();
        let hash = hasher.hash(&password("correct horse")).await.unwrap();
        assert!(hasher
            .verify(&password("correct horse"), &hash)
            .await
            .unwrap());
        assert!(!hasher
            .verify(&password("correct horsf"), &hash)
            .await
            .unwrap());
        assert!(!hasher
            .verify(&Password::for_login(""), &hash)
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn a_hash_made_with_other_parameters_still_verifies() {
        let params = Params::new(4096, 1, 1, None).unwrap();
        let older = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let stored = hash_with(&older, b"an older password").unwrap();
        let hasher = hasher();
        assert!(hasher
            .verify(&password("an older password"), &stored)
            .await
            .unwrap());
        assert!(!hasher
            .verify(&password("another password"), &stored)
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn malformed_stored_hash_is_an_error_not_a_mismatch() {
        let hasher = hasher();
        let candidates = [
            "",
            "not a hash",
            "$argon2id$v=19$m=19456,t=2,p=1$",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0",
            "$2b$12$abcdefghijklmnopqrstuuKzR5yXx0VwZbq6x1mB7o5m2yQnq8E9a",
        ];
        for stored in candidates {
            let result = hasher
                .verify(
                    &password("correct horse"),
                    &PasswordHash::new(stored.into()),
                )
                .await;
            assert!(result.is_err(), "{stored:?} gave {result:?}");
        }
    }

    #[tokio::test]
    async fn dummy_hash_has_production_parameters_and_matches_nothing() {
        let hasher = hasher();
        let dummy = hasher.dummy_hash();
        assert!(dummy
            .as_str()
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_eq!(dummy, hasher.dummy_hash(), "computed once");
        for guess in ["", "password", "correct horse"] {
            let ok = hasher
                .verify(&Password::for_login(guess), &dummy)
                .await
                .unwrap();
            assert!(!ok, "dummy hash matched {guess:?}");
        }
    }

    #[tokio::test]
    async fn concurrent_verifies_beyond_the_permit_count_all_complete() {
        let hasher = Argon2Hasher::with_limits(1, 2).unwrap();
        let hash = hasher.hash(&password("correct horse")).await.unwrap();
        let tasks: Vec<_> = (0..3)
            .map(|i| {
                let (hasher, hash) = (hasher.clone(), hash.clone());
                tokio::spawn(async move {
                    let guess = if i == 0 {
                        "correct horse"
                    } else {
                        "wrong horse"
                    };
                    hasher.verify(&password(guess), &hash).await.unwrap()
                })
            })
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap());
        }
        assert_eq!(results, [true, false, false]);
        assert_eq!(hasher.permits.available_permits(), 1, "permits released");
    }

    #[tokio::test]
    async fn a_call_past_the_queue_bound_is_refused_at_once_and_the_queue_recovers() {
        // One running, one waiting: the third call finds the queue full.
        let hasher = Argon2Hasher::with_limits(1, 1).unwrap();
        let hash = hasher.hash(&password("correct horse")).await.unwrap();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
        // Holds the only running permit until told to finish.
        let running = {
            let hasher = hasher.clone();
            tokio::spawn(async move {
                hasher
                    .run_blocking(move |_| {
                        let _ = started_tx.send(());
                        let _ = release_rx.recv();
                        Ok(())
                    })
                    .await
            })
        };
        started_rx.await.unwrap();
        let queued = {
            let (hasher, hash) = (hasher.clone(), hash.clone());
            tokio::spawn(async move { hasher.verify(&password("correct horse"), &hash).await })
        };
        // Wait until the second call holds its place in the queue.
        while hasher.admissions.available_permits() > 0 {
            tokio::task::yield_now().await;
        }

        assert_eq!(hasher.busy(), Some(BUSY_RETRY_AFTER));
        let refused = hasher.verify(&password("correct horse"), &hash).await;
        assert!(
            matches!(refused, Err(HashError::Busy { retry_after }) if retry_after == BUSY_RETRY_AFTER),
            "{refused:?}"
        );
        let refused = hasher.hash(&password("correct horse")).await;
        assert!(
            matches!(refused, Err(HashError::Busy { .. })),
            "{refused:?}"
        );

        release_tx.send(()).unwrap();
        running.await.unwrap().unwrap();
        assert!(queued.await.unwrap().unwrap(), "the queued call still ran");
        assert!(hasher
            .verify(&password("correct horse"), &hash)
            .await
            .unwrap());
        assert_eq!(hasher.admissions.available_permits(), 2, "places freed");
        assert_eq!(hasher.busy(), None);
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_while_queued_frees_its_place() {
        let hasher = Argon2Hasher::with_limits(1, 1).unwrap();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
        let running = {
            let hasher = hasher.clone();
            tokio::spawn(async move {
                hasher
                    .run_blocking(move |_| {
                        let _ = started_tx.send(());
                        let _ = release_rx.recv();
                        Ok(())
                    })
                    .await
            })
        };
        started_rx.await.unwrap();
        let queued = {
            let hasher = hasher.clone();
            tokio::spawn(async move { hasher.hash(&password("correct horse")).await })
        };
        while hasher.admissions.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        queued.abort();
        let _ = queued.await;
        assert_eq!(hasher.admissions.available_permits(), 1);
        release_tx.send(()).unwrap();
        running.await.unwrap().unwrap();
    }
}
