//! Tools for the hostile-input and security tests: a raw HTTP/1.1 client
//! for requests an ordinary client will not send, JWTs under other
//! algorithms, and the median for the login timing comparison. A fake
//! PostgreSQL that refuses TLS and a CA that signed nothing the database
//! uses come from `test-support`, shared with the adapter's tests.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub use test_support::db_url::with_port as url_with_port;
pub use test_support::foreign_ca::ForeignCa;
pub use test_support::no_tls_server::PostgresWithoutTls;

/// How long a raw exchange may take before the test calls the server hung.
const RAW_LIMIT: Duration = Duration::from_secs(15);

/// What the server sent back to [`raw_http`].
#[derive(Debug)]
pub struct RawResponse {
    /// The status code of the first status line.
    pub status: u16,
    /// Status line and header lines, as text.
    pub head: String,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    /// The body as JSON, if it is.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// Sends `request` (a whole HTTP/1.1 request, which should carry
/// `Connection: close`) to `address` (`http://127.0.0.1:<port>`, as
/// [`crate::Api::address`] gives it) and reads the answer until the server
/// closes the connection.
///
/// # Errors
/// When the server closes without a status line (the reason as text).
///
/// # Panics
/// When connecting fails or the server neither answers nor closes within
/// 15 seconds (a hang is a failure in its own right).
pub async fn raw_http(address: &str, request: &[u8]) -> Result<RawResponse, String> {
    let host = address.trim_start_matches("http://");
    let exchange = async {
        let mut stream = TcpStream::connect(host)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {host}: {e}"));
        // The server may answer and close before it read everything (e.g. a
        // 431 on an oversized head); a failed write is not the verdict.
        let _ = stream.write_all(request).await;
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        answer
    };
    let answer = tokio::time::timeout(RAW_LIMIT, exchange)
        .await
        .unwrap_or_else(|_| panic!("the server neither answered nor closed within {RAW_LIMIT:?}"));
    parse_response(&answer)
}

fn parse_response(answer: &[u8]) -> Result<RawResponse, String> {
    let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Err(format!(
            "no complete response head in {} bytes: {:?}",
            answer.len(),
            String::from_utf8_lossy(&answer[..answer.len().min(200)])
        ));
    };
    let head = String::from_utf8_lossy(&answer[..end]).into_owned();
    let status = head
        .lines()
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("no status line in {head:?}"))?;
    let mut body = answer[end + 4..].to_vec();
    let chunked = head.lines().any(|line| {
        line.to_ascii_lowercase().starts_with("transfer-encoding:") && line.contains("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    Ok(RawResponse { status, head, body })
}

/// Joins the chunks of a chunked body (good enough for small answers).
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = body.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&body[..line_end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok())
            .unwrap_or(0);
        body = &body[line_end + 2..];
        if size == 0 || body.len() < size {
            break;
        }
        out.extend_from_slice(&body[..size]);
        body = body.get(size + 2..).unwrap_or_default();
    }
    out
}

fn encode_segment(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("JSON serialises"))
}

/// `claims` signed with `secret` under an HMAC algorithm of the token
/// library's choosing (HS256, HS384, HS512).
pub fn signed_with(algorithm: Algorithm, claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HMAC signing works")
}

/// A token whose header names `alg` (e.g. `RS256`, `ES256`) while the
/// signature is an HS256 MAC under `secret`: the algorithm-confusion
/// attack, where a verifier that trusts the header uses the shared secret
/// as a public key.
pub fn with_header_alg(alg: &str, claims: &Value, secret: &str) -> String {
    let header = json!({"alg": alg, "typ": "JWT"});
    let message = format!("{}.{}", encode_segment(&header), encode_segment(claims));
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(secret.as_bytes()),
        Algorithm::HS256,
    )
    .expect("HS256 signing works");
    format!("{message}.{signature}")
}

/// The same token with one character of its signature changed.
pub fn with_flipped_signature(token: &str) -> String {
    let (message, signature) = token.rsplit_once('.').expect("a JWT has a signature");
    let mut chars: Vec<char> = signature.chars().collect();
    let middle = chars.len() / 2;
    chars[middle] = if chars[middle] == 'A' { 'B' } else { 'A' };
    format!("{message}.{}", chars.into_iter().collect::<String>())
}

/// The median of some durations, in milliseconds.
///
/// # Panics
/// When there are none.
pub fn median_ms(samples: &[Duration]) -> f64 {
    assert!(!samples.is_empty(), "no samples");
    let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    let middle = ms.len() / 2;
    if ms.len().is_multiple_of(2) {
        (ms[middle - 1] + ms[middle]) / 2.0
    } else {
        ms[middle]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunked_answer_is_joined() {
        let raw = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\ntransfer-encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n";
        let response = parse_response(raw).unwrap();
        assert_eq!(response.status, 400);
        assert_eq!(
            response.header("Content-Type"),
            Some("application/problem+json")
        );
        assert_eq!(response.json(), Some(json!({"a": 1})));
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        let ms = |v: u64| Duration::from_millis(v);
        assert!((median_ms(&[ms(5), ms(1), ms(3)]) - 3.0).abs() < 1e-9);
        assert!((median_ms(&[ms(4), ms(1), ms(3), ms(100)]) - 3.5).abs() < 1e-9);
    }

    #[test]
    fn a_flipped_signature_differs_only_in_the_signature() {
        let token = "aaa.bbb.cccAccc";
        let flipped = with_flipped_signature(token);
        assert_ne!(flipped, token);
        assert!(flipped.starts_with("aaa.bbb."));
    }
}
