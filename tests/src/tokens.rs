//! Reading and forging JWTs, for the 401 cases: tampered, `alg: none`,
//! expired (re-signed with the server's own secret, which the test set).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::Value;

fn segments(token: &str) -> [&str; 3] {
    let parts: Vec<&str> = token.split('.').collect();
    match parts.as_slice() {
        [header, payload, signature] => [header, payload, signature],
        _ => panic!(
            "a JWT has three dot-separated parts, this one has {}",
            parts.len()
        ),
    }
}

fn decode_segment(segment: &str) -> Value {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .unwrap_or_else(|e| panic!("a JWT segment is base64url: {e}"));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("a JWT segment is JSON: {e}"))
}

fn encode_segment(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("JSON serialises"))
}

/// The header of a JWT.
pub fn header(token: &str) -> Value {
    decode_segment(segments(token)[0])
}

/// The claims of a JWT (not verified).
pub fn claims(token: &str) -> Value {
    decode_segment(segments(token)[1])
}

/// The same token with its claims changed by `change` and the original
/// signature kept: a tampered token.
pub fn tampered(token: &str, change: impl FnOnce(&mut Value)) -> String {
    let [header, payload, signature] = segments(token);
    let mut claims = decode_segment(payload);
    change(&mut claims);
    format!("{header}.{}.{signature}", encode_segment(&claims))
}

/// The token's claims under `{"alg":"none"}` with an empty signature.
pub fn unsigned(token: &str) -> String {
    let header = serde_json::json!({"alg": "none", "typ": "JWT"});
    format!("{}.{}.", encode_segment(&header), segments(token)[1])
}

/// `claims` signed HS256 with `secret`.
pub fn signed(claims: &Value, secret: &str) -> String {
    encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 signing works")
}
