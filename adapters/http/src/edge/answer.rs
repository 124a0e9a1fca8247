//! The problem answers the edge writes itself, before any routing: a
//! refused head has no request for axum to answer.

use axum::http::StatusCode;

use super::head::Refusal;
use crate::problem::{Problem, PROBLEM_CONTENT_TYPE};

/// The whole HTTP/1.1 answer to a refused head, closing the connection.
pub(crate) fn refusal_bytes(refusal: &Refusal) -> Vec<u8> {
    answer_bytes(refusal.status(), refusal.detail())
}

fn answer_bytes(status: StatusCode, detail: String) -> Vec<u8> {
    let body = Problem {
        kind: "about:blank",
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail,
        errors: None,
    };
    let body = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
    let mut bytes = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: {PROBLEM_CONTENT_TYPE}\r\ncontent-length: {}\r\n\
         connection: close\r\nx-content-type-options: nosniff\r\ncache-control: no-store\r\n\
         date: {}\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error"),
        body.len(),
        httpdate::fmt_http_date(std::time::SystemTime::now()),
    )
    .into_bytes();
    bytes.extend_from_slice(&body);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_a_complete_problem_answer_that_closes() {
        let bytes = refusal_bytes(&Refusal::UriTooLong(8192));
        let text = String::from_utf8(bytes).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{head}");
        assert!(head.contains("\r\ncontent-type: application/problem+json\r\n"));
        assert!(head.contains("\r\nconnection: close\r\n"));
        assert!(head.contains(&format!("\r\ncontent-length: {}\r\n", body.len())));
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["status"], 414);
        assert_eq!(json["type"], "about:blank");
        assert_eq!(json["title"], "URI Too Long");
    }
}
