//! The idempotency fingerprint of a create: a digest of the validated
//! command, not of the bytes a front end received. Key order, spacing,
//! defaults spelled out or left implicit: the same meaning gives the same
//! fingerprint, from any front end.

use domain::NewTask;
use sha2::{Digest, Sha256};

/// `v1:` then the hex SHA-256 of every field, each length-prefixed so no
/// two commands can encode alike.
pub(crate) fn of_new_task(task: &NewTask) -> String {
    let mut digest = Sha256::new();
    let mut field = |name: &str, value: Option<&str>| {
        digest.update(name.as_bytes());
        match value {
            None => digest.update(b"\x00-"),
            Some(text) => {
                digest.update(b"\x01");
                digest.update((text.len() as u64).to_be_bytes());
                digest.update(text.as_bytes());
            }
        }
    };
    field("title", Some(task.title.as_str()));
    field("description", task.description.as_ref().map(|d| d.as_str()));
    field(
        "completed",
        Some(if task.completed { "true" } else { "false" }),
    );
    field("priority", Some(task.priority.as_str()));
    let due_at = task.due_at.map(|at| crate::timestamps::rfc3339(&at));
    field("due_at", due_at.as_deref());
    let hex: String = digest
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("v1:{hex}")
}
