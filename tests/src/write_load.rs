//! A steady write load for the fault tests, and the checks on what it left.
//!
//! A few clients create tasks, each with a fresh `Idempotency-Key`, and
//! retry the same key (same body) after a 503 or any other failure until it
//! is acknowledged with a 201, as a well-behaved client of the contract
//! does. Every attempt is recorded with how long it took, so a test can
//! check that nothing hung, that every refusal was a clean 503 with
//! `Retry-After`, and — against the rows — that every acknowledged task
//! exists and no key was written twice.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::api::{Api, TestUser};

/// How long the clients wait between attempts after a failure (they do not
/// sleep the whole `Retry-After`, to sample the outage densely).
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// After [`WriteLoad::finish`], how long a client may keep retrying the key
/// it holds before giving up on it.
const FINISH_LIMIT: Duration = Duration::from_secs(15);

/// What one attempt got.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// 201 with the task's id.
    Created(Uuid),
    /// 503: whether it carried `Retry-After` and was `application/problem+json`.
    Unavailable { retry_after: bool, problem: bool },
    /// Any other status, with its body.
    Other(StatusCode, String),
    /// No answer within the client's timeout.
    TimedOut,
    /// The HTTP exchange itself failed (connection refused or reset).
    Transport(String),
}

/// One request of the load.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub client: usize,
    pub key: String,
    pub sent_at: Instant,
    pub took: Duration,
    pub outcome: Outcome,
}

/// Everything the load did.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub attempts: Vec<Attempt>,
    /// Keys a client gave up on (no 201 within the finishing limit).
    pub unfinished: Vec<String>,
}

/// Clients creating tasks in the background until [`WriteLoad::finish`].
pub struct WriteLoad {
    stop: Arc<AtomicBool>,
    clients: Vec<JoinHandle<(Vec<Attempt>, Option<String>)>>,
}

impl WriteLoad {
    /// Starts `clients` clients creating tasks for `user`, each request
    /// bounded by `timeout` on the client side.
    pub fn start(api: &Api, user: &TestUser, clients: usize, timeout: Duration) -> WriteLoad {
        let stop = Arc::new(AtomicBool::new(false));
        let clients = (0..clients)
            .map(|client| {
                let api = api.clone();
                let token = user.token.clone();
                let stop = Arc::clone(&stop);
                tokio::spawn(async move { run_client(client, api, token, timeout, stop).await })
            })
            .collect();
        WriteLoad { stop, clients }
    }

    /// Asks the clients to stop once their current key is acknowledged and
    /// waits for them.
    ///
    /// # Panics
    /// When a client task panicked.
    pub async fn finish(self) -> LoadReport {
        self.stop.store(true, Ordering::SeqCst);
        let mut report = LoadReport::default();
        for client in self.clients {
            let (attempts, unfinished) = client.await.expect("a load client panicked");
            report.attempts.extend(attempts);
            report.unfinished.extend(unfinished);
        }
        report.attempts.sort_by_key(|a| a.sent_at);
        report
    }
}

async fn run_client(
    client: usize,
    api: Api,
    token: String,
    timeout: Duration,
    stop: Arc<AtomicBool>,
) -> (Vec<Attempt>, Option<String>) {
    let mut attempts = Vec::new();
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let key = Uuid::new_v4().to_string();
        let body = json!({"title": format!("fault load {client}-{n}")});
        let mut stop_seen: Option<Instant> = None;
        loop {
            let attempt = create_once(client, &api, &token, &key, &body, timeout).await;
            let created = matches!(attempt.outcome, Outcome::Created(_));
            attempts.push(attempt);
            if created {
                break;
            }
            if stop.load(Ordering::SeqCst) {
                let since = *stop_seen.get_or_insert_with(Instant::now);
                if since.elapsed() > FINISH_LIMIT {
                    return (attempts, Some(key));
                }
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }
    (attempts, None)
}

async fn create_once(
    client: usize,
    api: &Api,
    token: &str,
    key: &str,
    body: &Value,
    timeout: Duration,
) -> Attempt {
    let sent_at = Instant::now();
    let request = api
        .request(Method::POST, "/api/v1/tasks")
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
        .send();
    let outcome = match tokio::time::timeout(timeout, async {
        let response = request.await?;
        let status = response.status();
        let retry_after = response.headers().contains_key(RETRY_AFTER);
        let problem = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/problem+json"));
        let text = response.text().await?;
        Ok::<_, reqwest::Error>((status, retry_after, problem, text))
    })
    .await
    {
        Err(_elapsed) => Outcome::TimedOut,
        Ok(Err(e)) => Outcome::Transport(e.to_string()),
        Ok(Ok((StatusCode::CREATED, _, _, text))) => {
            match serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["id"].as_str().and_then(|id| Uuid::parse_str(id).ok()))
            {
                Some(id) => Outcome::Created(id),
                None => Outcome::Other(StatusCode::CREATED, text),
            }
        }
        Ok(Ok((StatusCode::SERVICE_UNAVAILABLE, retry_after, problem, _))) => {
            Outcome::Unavailable {
                retry_after,
                problem,
            }
        }
        Ok(Ok((status, _, _, text))) => Outcome::Other(status, text),
    };
    Attempt {
        client,
        key: key.to_owned(),
        sent_at,
        took: sent_at.elapsed(),
        outcome,
    }
}

impl LoadReport {
    /// `(key, id)` of every 201.
    pub fn acknowledged(&self) -> Vec<(String, Uuid)> {
        self.attempts
            .iter()
            .filter_map(|a| match a.outcome {
                Outcome::Created(id) => Some((a.key.clone(), id)),
                _ => None,
            })
            .collect()
    }

    /// How many attempts were answered 503.
    pub fn unavailable(&self) -> usize {
        self.attempts
            .iter()
            .filter(|a| matches!(a.outcome, Outcome::Unavailable { .. }))
            .count()
    }

    /// The slowest 503, if any.
    pub fn slowest_unavailable(&self) -> Option<Duration> {
        self.attempts
            .iter()
            .filter(|a| matches!(a.outcome, Outcome::Unavailable { .. }))
            .map(|a| a.took)
            .max()
    }

    /// A one-line summary for the test output.
    pub fn summary(&self) -> String {
        let created = self.acknowledged().len();
        let keys: HashSet<&str> = self.attempts.iter().map(|a| a.key.as_str()).collect();
        format!(
            "{} attempts, {} keys, {created} created (201), {} refused (503), slowest 503 {:?}, {} other",
            self.attempts.len(),
            keys.len(),
            self.unavailable(),
            self.slowest_unavailable().unwrap_or_default(),
            self.attempts.len() - created - self.unavailable(),
        )
    }

    /// What a load through an outage must show: it saw the outage (some
    /// 503s, else the test proved nothing), every answer was clean within
    /// `bound` ([`Self::assert_every_answer_clean`]), and the rows match
    /// what was acknowledged ([`Self::assert_rows_match`]).
    ///
    /// # Panics
    /// With what differs.
    pub fn assert_outage_survived(&self, rows: &[(Uuid, Option<String>)], bound: Duration) {
        assert!(
            self.unavailable() > 0,
            "the load saw the outage (else this test proves nothing): {}",
            self.summary()
        );
        self.assert_every_answer_clean(bound);
        self.assert_rows_match(rows);
    }

    /// Every attempt got a 201, or a 503 with `Retry-After` as a problem
    /// document within `bound`; none timed out, failed in transport or got
    /// another status; every key was acknowledged in the end.
    ///
    /// # Panics
    /// With the offending attempts.
    pub fn assert_every_answer_clean(&self, bound: Duration) {
        let bad: Vec<&Attempt> = self
            .attempts
            .iter()
            .filter(|a| match a.outcome {
                Outcome::Created(_) => false,
                Outcome::Unavailable {
                    retry_after,
                    problem,
                } => !(retry_after && problem && a.took <= bound),
                _ => true,
            })
            .collect();
        assert!(
            bad.is_empty(),
            "{} of {} requests were not a 201 or a 503 problem with Retry-After within {bound:?}: {:#?}",
            bad.len(),
            self.attempts.len(),
            &bad[..bad.len().min(10)]
        );
        assert!(
            self.unfinished.is_empty(),
            "keys never acknowledged after the fault: {:?}",
            self.unfinished
        );
    }

    /// Against the user's rows (`(id, idempotency_key)`): every acknowledged
    /// task exists under its key with the id the 201 named, no key has two
    /// rows, and no row exists that the load did not ask for.
    ///
    /// # Panics
    /// With what differs.
    pub fn assert_rows_match(&self, rows: &[(Uuid, Option<String>)]) {
        let mut by_key: HashMap<&str, Vec<Uuid>> = HashMap::new();
        for (id, key) in rows {
            let key = key
                .as_deref()
                .unwrap_or_else(|| panic!("task {id} was stored without its idempotency key"));
            by_key.entry(key).or_default().push(*id);
        }
        let twice: Vec<_> = by_key.iter().filter(|(_, ids)| ids.len() > 1).collect();
        assert!(twice.is_empty(), "keys written twice: {twice:?}");
        for (key, id) in self.acknowledged() {
            assert_eq!(
                by_key.get(key.as_str()),
                Some(&vec![id]),
                "the task acknowledged with 201 for key {key} must exist with id {id}"
            );
        }
        let asked: HashSet<&str> = self.attempts.iter().map(|a| a.key.as_str()).collect();
        let stray: Vec<_> = by_key.keys().filter(|k| !asked.contains(*k)).collect();
        assert!(stray.is_empty(), "rows for keys never sent: {stray:?}");
        let acknowledged: HashSet<String> =
            self.acknowledged().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            rows.len(),
            acknowledged.len() + self.unfinished_rows(&by_key),
            "one row per acknowledged key"
        );
    }

    /// Unfinished keys may or may not have been written.
    fn unfinished_rows(&self, by_key: &HashMap<&str, Vec<Uuid>>) -> usize {
        self.unfinished
            .iter()
            .filter(|k| by_key.contains_key(k.as_str()))
            .count()
    }
}

/// Polls `GET /api/v1/tasks` every 50 ms until it answers 200 and returns
/// how long that took, or `None` if it did not within `limit`.
pub async fn time_until_ok(api: &Api, token: &str, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        let request = api
            .request(Method::GET, "/api/v1/tasks")
            .bearer_auth(token)
            .send();
        if let Ok(Ok(response)) = tokio::time::timeout(limit, request).await {
            if response.status() == StatusCode::OK {
                return Some(started.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}
