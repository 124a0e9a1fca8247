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
