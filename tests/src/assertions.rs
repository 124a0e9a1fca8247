//! Checks that several suites make on what the server printed.

/// Fails when `text` contains any of `secrets` (`(what, secret)` pairs),
/// showing `text` with the secret masked; `context` prefixes the message.
///
/// # Panics
/// On the first secret found.
pub fn assert_hides(text: &str, secrets: &[(&str, &str)], context: &str) {
    for (what, secret) in secrets {
        assert!(
            !text.contains(secret),
            "{context}the output contains {what}:\n{}",
            text.replace(secret, "<SECRET>")
        );
    }
}

/// The whole seconds of `response`'s `Retry-After` header.
///
/// # Panics
/// When the header is missing or not a whole number of seconds.
pub fn retry_after_seconds(response: &reqwest::Response) -> u64 {
    let value = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    value
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "a {} carries Retry-After in whole seconds, got {value:?}",
                response.status()
            )
        })
}

/// Awaits a burst of failed logins and splits the answers: how many were
/// 401, and the `Retry-After` seconds of each one refused with `refused`.
///
/// # Panics
/// On any other status, or a refusal without whole `Retry-After` seconds.
pub async fn tally_login_burst(
    burst: Vec<tokio::task::JoinHandle<reqwest::Response>>,
    refused: reqwest::StatusCode,
) -> (usize, Vec<u64>) {
    let (mut unauthorized, mut retry_afters) = (0, Vec::new());
    for answer in burst {
        let answer = answer.await.expect("the login task finished");
        match answer.status() {
            reqwest::StatusCode::UNAUTHORIZED => unauthorized += 1,
            status if status == refused => retry_afters.push(retry_after_seconds(&answer)),
            other => panic!("expected 401 or {refused}, got {other}"),
        }
    }
    (unauthorized, retry_afters)
}
