//! [`LoginLimiter`] on PostgreSQL: one failed-login count per email and per
//! client, shared by every replica.
//!
//! A key is the SHA-256 of a secret namespace, then the normalized email or
//! the client's address (an IPv6 client by its /64, which one subscriber
//! usually holds whole; IPv4-mapped IPv6 as IPv4), so a row is fixed-size
//! whatever was sent: 32 bytes and at most `max` attempt instants, strictly
//! increasing. The namespace comes from a secret every replica shares (the
//! token secret): a reader of the table cannot test guessed emails against
//! it, and services with different secrets on one database count apart.
//! (Digests are never shown to clients, so a plain keyed prefix suffices:
//! length extension gains nothing here.)
//!
//! [`RESERVE_SQL`] is one statement: it upserts both keys (locking their
//! rows, in key order so parallel reservations never deadlock), drops the
//! attempts that left the window ending at the caller's `now`, and appends
//! one only where there is room. The rows' locks make parallel reservations,
//! from any replica, queue on each other: never more than `max` per window.
//! The same statement deletes a few rows that expired (their every attempt
//! left the window), so the table stays small without a background job.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use application::ports::{LimitError, LoginLimiter, RepoError, Reservation, Slot};
use async_trait::async_trait;
use domain::Timestamp;
use sha2::{Digest, Sha256};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::pool::{Executor, Replay};
use crate::refusals::{whole_seconds, Refusals};

/// How many failures are tolerated, per email and per client, within `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// Failures of one email, from any client, before it is blocked.
    pub max_failures_per_email: u32,
    /// Failures from one client address, for any email, before it is blocked.
    pub max_failures_per_client: u32,
    pub window: Duration,
}

impl Default for LoginLimits {
    /// 5 per email and 20 per client in 15 minutes.
    fn default() -> Self {
        Self {
            max_failures_per_email: 5,
            max_failures_per_client: 20,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// Expired rows removed by each reservation: more than it can add (two).
const PURGE_PER_RESERVATION: i64 = 16;

/// `$1` email key, `$2` client key or NULL, `$3`/`$4` their limits, `$5`
/// now, `$6` the window in seconds, `$7` this reservation's id, `$8` how
/// many expired rows to delete. A row whose `last_reservation` is `$7`
/// after the statement took a slot; otherwise `attempts` says until when
/// the key is full.
const RESERVE_SQL: &str = "WITH wanted (key, max_attempts) AS (
        SELECT k, m FROM (VALUES ($1::bytea, $3::int4), ($2::bytea, $4::int4)) AS v (k, m)
        WHERE k IS NOT NULL
    ),
    purged AS (
        DELETE FROM login_attempts
        WHERE key IN (
            SELECT key FROM login_attempts
            WHERE expires_at <= $5::timestamptz AND key NOT IN (SELECT key FROM wanted)
            ORDER BY expires_at
            LIMIT $8::int8
            FOR UPDATE SKIP LOCKED)
    ),
    taken AS (
        INSERT INTO login_attempts AS l (key, attempts, expires_at, last_reservation)
        SELECT key, ARRAY[$5::timestamptz], $5::timestamptz + $6::float8 * interval '1 second', $7::uuid
        FROM wanted ORDER BY key
        ON CONFLICT (key) DO UPDATE SET
            attempts = CASE
                WHEN cardinality(ARRAY(SELECT a FROM unnest(l.attempts) a
                        WHERE a > $5::timestamptz - $6::float8 * interval '1 second'))
                    < CASE WHEN l.key = $1::bytea THEN $3::int4 ELSE $4::int4 END
                THEN ARRAY(SELECT a FROM unnest(l.attempts) a
                        WHERE a > $5::timestamptz - $6::float8 * interval '1 second' ORDER BY a)
                    || greatest($5::timestamptz, l.attempts[cardinality(l.attempts)] + interval '1 microsecond')
                ELSE ARRAY(SELECT a FROM unnest(l.attempts) a
                        WHERE a > $5::timestamptz - $6::float8 * interval '1 second' ORDER BY a)
            END,
            last_reservation = CASE
                WHEN cardinality(ARRAY(SELECT a FROM unnest(l.attempts) a
                        WHERE a > $5::timestamptz - $6::float8 * interval '1 second'))
                    < CASE WHEN l.key = $1::bytea THEN $3::int4 ELSE $4::int4 END
                THEN $7::uuid ELSE l.last_reservation
            END,
            expires_at = greatest(l.expires_at, $5::timestamptz + $6::float8 * interval '1 second')
        RETURNING l.key, l.attempts, l.last_reservation = $7::uuid AS taken
    )
    SELECT t.key, t.attempts, t.taken, w.max_attempts
    FROM taken t JOIN wanted w ON w.key = t.key";

/// Hands back exactly the given slots (`$1` keys, `$2` their instants).
/// Idempotent, hence safe to replay. Like every statement here that writes
/// two keys, it locks them in key order first (`locked`), as the
/// reservation inserts them: in any other order two logins, each holding
/// one of the other's keys, deadlock until PostgreSQL's `deadlock_timeout`
/// (1 s) ends one of them, with their connections (and any statements
/// pipelined behind them) stuck meanwhile.
const RELEASE_SQL: &str = "WITH h (key, at) AS (
        SELECT * FROM unnest($1::bytea[], $2::timestamptz[])
    ),
    locked AS (
        SELECT l.key FROM login_attempts AS l
        WHERE l.key IN (SELECT key FROM h)
        ORDER BY l.key
        FOR UPDATE OF l
    )
    UPDATE login_attempts AS l SET attempts = array_remove(l.attempts, h.at)
    FROM locked JOIN h ON h.key = locked.key
    WHERE l.key = locked.key";

/// Clears the email's attempts (`$1`) and hands back the client's slot
/// (`$2`, `$3`). Idempotent. Locks in key order (see [`RELEASE_SQL`]).
const SUCCEEDED_SQL: &str = "WITH locked AS (
        SELECT l.key FROM login_attempts AS l
        WHERE l.key = $1::bytea OR l.key = $2::bytea
        ORDER BY l.key
        FOR UPDATE OF l
    )
    UPDATE login_attempts AS l SET attempts = CASE
        WHEN l.key = $1::bytea THEN '{}'::timestamptz[]
        ELSE array_remove(l.attempts, $3::timestamptz) END
    FROM locked
    WHERE l.key = locked.key";

pub(crate) struct PgLoginLimiter {
    executor: Executor,
    limits: LoginLimits,
    keys: KeyMaker,
    /// Keys the database refused, until their refusal lifts.
    refusals: Refusals,
}

impl PgLoginLimiter {
    pub(crate) fn new(executor: Executor, limits: LoginLimits, secret: &[u8]) -> Self {
        Self {
            executor,
            limits,
            keys: KeyMaker::new(secret),
            refusals: Refusals::default(),
        }
    }
}

/// Turns emails and addresses into the table's fixed-size keys.
struct KeyMaker {
    namespace: [u8; 32],
}

impl KeyMaker {
    fn new(secret: &[u8]) -> Self {
        Self {
            namespace: Sha256::new()
                .chain_update(b"todo login limiter\0")
                .chain_update(secret)
                .finalize()
                .into(),
        }
    }

    fn digest(&self, domain: &[u8], value: &[u8]) -> [u8; 32] {
        Sha256::new()
            .chain_update(self.namespace)
            .chain_update(domain)
            .chain_update(value)
            .finalize()
            .into()
    }

    /// The key of an email as the use case normalized it.
    fn email(&self, email: &str) -> [u8; 32] {
        self.digest(b"email\0", email.as_bytes())
    }

    /// The key of a client: IPv4 as is (also when IPv4-mapped), IPv6 by its /64.
    fn client(&self, client: IpAddr) -> [u8; 32] {
        let v4 = |v4: std::net::Ipv4Addr| self.digest(b"client\0", &v4.octets());
        match client {
            IpAddr::V4(addr) => v4(addr),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(addr) => v4(addr),
                None => {
                    let prefix = Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX));
                    self.digest(b"client\0", &prefix.octets())
                }
            },
        }
    }
}

fn limit(max: u32) -> i32 {
    i32::try_from(max.max(1)).unwrap_or(i32::MAX)
}

fn internal(what: &str, err: impl std::fmt::Display) -> RepoError {
    RepoError::Internal(format!("login limiter: {what}: {err}").into())
}

/// One key's state after the reservation statement.
struct KeyState {
    key: [u8; 32],
    attempts: Vec<Timestamp>,
    taken: bool,
    max: usize,
}

impl KeyState {
    fn from_row(row: &Row) -> Result<Self, RepoError> {
        let key: Vec<u8> = row.try_get("key").map_err(|e| internal("key", e))?;
        let key = <[u8; 32]>::try_from(key.as_slice()).map_err(|e| internal("key", e))?;
        let max: i32 = row
            .try_get("max_attempts")
            .map_err(|e| internal("max_attempts", e))?;
        Ok(Self {
            key,
            attempts: row
                .try_get("attempts")
                .map_err(|e| internal("attempts", e))?,
            taken: row.try_get("taken").map_err(|e| internal("taken", e))?,
            max: usize::try_from(max).unwrap_or(1).max(1),
        })
    }

    /// Our slot: the newest attempt, appended under the row's lock.
    fn slot(&self) -> Option<Slot> {
        let at = *self.attempts.last()?;
        self.taken.then_some(Slot { key: self.key, at })
    }

    /// Until the oldest counted attempt leaves the window, rounded up to
    /// whole seconds (at least one) for `Retry-After`.
    fn retry_after(&self, now: Timestamp, window: Duration) -> Duration {
        let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
        let counted = self.attempts.len().saturating_sub(self.max);
        let wait = self
            .attempts
            .get(counted)
            .and_then(|oldest| oldest.checked_add_signed(window))
            .and_then(|free_at| (free_at - now).to_std().ok())
            .unwrap_or(Duration::ZERO);
        whole_seconds(wait)
    }
}

#[async_trait]
impl LoginLimiter for PgLoginLimiter {
    #[tracing::instrument(skip_all)]
    async fn reserve(
        &self,
        email: &str,
        client: Option<IpAddr>,
        now: Timestamp,
    ) -> Result<Reservation, LimitError> {
        let email_key = self.keys.email(email);
        let client_key = client.map(|c| self.keys.client(c));
        let known: Vec<&[u8; 32]> = std::iter::once(&email_key)
            .chain(client_key.as_ref())
            .collect();
        if let Some(retry_after) = self.refusals.refused(&known, now) {
            return Err(LimitError::Limited { retry_after });
        }
        let email_key_ref: &[u8] = &email_key;
        let client_key_ref: Option<&[u8]> = client_key.as_ref().map(|k| &k[..]);
        let email_max = limit(self.limits.max_failures_per_email);
        let client_max = limit(self.limits.max_failures_per_client);
        let window_secs = self.limits.window.as_secs_f64();
        let id = Uuid::now_v7();
        let rows = self
            .executor
            .query(
                RESERVE_SQL,
                &[
                    (&email_key_ref, Type::BYTEA),
                    (&client_key_ref, Type::BYTEA),
                    (&email_max, Type::INT4),
                    (&client_max, Type::INT4),
                    (&now, Type::TIMESTAMPTZ),
                    (&window_secs, Type::FLOAT8),
                    (&id, Type::UUID),
                    (&PURGE_PER_RESERVATION, Type::INT8),
                ],
                // Not idempotent: a replay would count the attempt twice.
                Replay::Once,
            )
            .await?;
        let states = rows
            .iter()
            .map(KeyState::from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let find = |key: &[u8; 32]| states.iter().find(|s| s.key == *key);
        let email_state = find(&email_key).ok_or_else(|| internal("reserve", "no email row"))?;
        let client_state = match &client_key {
            Some(key) => Some(find(key).ok_or_else(|| internal("reserve", "no client row"))?),
            None => None,
        };
        let email_slot = email_state.slot();
        let client_slot = client_state.map(KeyState::slot);
        match (email_slot, client_slot) {
            (Some(email), None) => Ok(Reservation {
                email,
                client: None,
            }),
            (Some(email), Some(Some(client))) => Ok(Reservation {
                email,
                client: Some(client),
            }),
            _ => {
                // Refused: hand back whatever one key took, so a refusal
                // never counts.
                let taken: Vec<Slot> = email_slot
                    .into_iter()
                    .chain(client_slot.flatten())
                    .collect();
                if !taken.is_empty() {
                    if let Err(err) = self.release_slots(&taken).await {
                        tracing::warn!(error = %err, "could not hand back a refused login's slot");
                    }
                }
                let full: Vec<(&KeyState, Duration)> = [Some(email_state), client_state]
                    .into_iter()
                    .flatten()
                    .filter(|s| !s.taken)
                    .map(|s| (s, s.retry_after(now, self.limits.window)))
                    .collect();
                for (state, wait) in &full {
                    self.refusals.remember(state.key, now, *wait);
                }
                let retry_after = full
                    .iter()
                    .map(|(_, wait)| *wait)
                    .max()
                    .unwrap_or(Duration::from_secs(1));
                Err(LimitError::Limited { retry_after })
            }
        }
    }

    #[tracing::instrument(skip_all)]
    async fn succeeded(&self, reservation: &Reservation) -> Result<(), RepoError> {
        let email_key: &[u8] = &reservation.email.key;
        let client_key: Option<&[u8]> = reservation.client.as_ref().map(|s| &s.key[..]);
        let client_at: Option<Timestamp> = reservation.client.map(|s| s.at);
        self.executor
            .query(
                SUCCEEDED_SQL,
                &[
                    (&email_key, Type::BYTEA),
                    (&client_key, Type::BYTEA),
                    (&client_at, Type::TIMESTAMPTZ),
                ],
                Replay::Safe,
            )
            .await?;
        self.refusals.forget(&reservation.email.key);
        if let Some(client) = &reservation.client {
            self.refusals.forget(&client.key);
        }
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn release(&self, reservation: &Reservation) -> Result<(), RepoError> {
        let slots: Vec<Slot> = std::iter::once(reservation.email)
            .chain(reservation.client)
            .collect();
        self.release_slots(&slots).await
    }
}

impl PgLoginLimiter {
    async fn release_slots(&self, slots: &[Slot]) -> Result<(), RepoError> {
        let keys: Vec<&[u8]> = slots.iter().map(|s| &s.key[..]).collect();
        let ats: Vec<Timestamp> = slots.iter().map(|s| s.at).collect();
        let params: &[(&(dyn ToSql + Sync), Type)] =
            &[(&keys, Type::BYTEA_ARRAY), (&ats, Type::TIMESTAMPTZ_ARRAY)];
        self.executor
            .query(RELEASE_SQL, params, Replay::Safe)
            .await?;
        for slot in slots {
            self.refusals.forget(&slot.key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> KeyMaker {
        KeyMaker::new(b"a secret shared by the replicas")
    }

    #[test]
    fn keys_are_fixed_size_and_separate_emails_from_clients() {
        let keys = keys();
        let long = "a".repeat(64 * 1024);
        assert_eq!(keys.email(&long).len(), 32);
        assert_ne!(
            keys.email("1.2.3.4"),
            keys.client("1.2.3.4".parse().unwrap())
        );
    }

    #[test]
    fn keys_depend_on_the_secret() {
        let other = KeyMaker::new(b"another service's secret");
        assert_ne!(
            keys().email("ann@example.com"),
            other.email("ann@example.com")
        );
        assert_eq!(
            keys().email("ann@example.com"),
            keys().email("ann@example.com")
        );
    }

    #[test]
    fn ipv6_clients_share_a_key_per_64_and_mapped_ipv4_is_ipv4() {
        let keys = keys();
        let a = keys.client("2001:db8:1:2::1".parse().unwrap());
        let b = keys.client("2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap());
        let c = keys.client("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            keys.client("::ffff:10.0.0.7".parse().unwrap()),
            keys.client("10.0.0.7".parse().unwrap())
        );
    }
}
