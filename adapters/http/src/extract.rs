//! Our own extractors. Each turns every way a request can be malformed into
//! a problem answer, so axum's plain-text rejections never reach a client.

use std::net::{IpAddr, SocketAddr};

use application::{AppError, FieldError, Principal};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use crate::problem::ApiError;
use crate::state::AppState;

/// A JSON request body, parsed.
///
/// - no or another `Content-Type` → 415
/// - larger than the body limit → 413
/// - not JSON (syntax, invalid UTF-8, nesting too deep, trailing bytes,
///   numbers out of range) → 400
/// - JSON of the wrong shape (a field of the wrong type, not an object) →
///   422 naming the field
pub(crate) struct JsonBody<T> {
    pub(crate) value: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::unsupported_media_type());
        }
        let raw = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::payload_too_large(state.body_limit_bytes)
            } else {
                ApiError::bad_request("the request body could not be read")
            }
        })?;
        let value = parse_json(&raw)?;
        Ok(Self { value })
    }
}

/// `application/json`, or any `application/…+json` (e.g. merge-patch).
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Two steps: the whole document into a `Value` first, so the nesting limit
/// (128) and the number range apply everywhere, unknown fields included;
/// then the shape, which can only fail as "wrong type" (422).
pub(crate) fn parse_json<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ApiError> {
    let document: serde_json::Value = serde_json::from_slice(raw).map_err(|err| not_json(&err))?;
    // serde's derived structs also accept an array, matched by position:
    // every body of the contract is an object, so refuse anything else.
    if !document.is_object() {
        return Err(ApiError::validation(vec![FieldError::new(
            "body",
            "must be a JSON object",
        )]));
    }
    serde_path_to_error::deserialize(document).map_err(|err| {
        let path = err.path().to_string();
        ApiError::validation(vec![shape_error(&path, err.inner())])
    })
}

fn not_json(err: &serde_json::Error) -> ApiError {
    ApiError::bad_request(format!(
        "the request body is not valid JSON (line {}, column {})",
        err.line(),
        err.column()
    ))
}

/// A field error for JSON of the wrong shape. Says what was expected but
/// never echoes the value, which might be a secret.
fn shape_error(path: &str, err: &serde_json::Error) -> FieldError {
    if path == "." {
        return FieldError::new("body", "must be a JSON object");
    }
    let text = err.to_string();
    let message = match text.rfind("expected ") {
        Some(at) => {
            let expected = &text[at..];
            let expected = expected.split(" at line ").next().unwrap_or(expected);
            if expected.contains("bool") {
                "expected a boolean".to_owned()
            } else if expected.contains("string") {
                "expected a string".to_owned()
            } else {
                expected.to_owned()
            }
        }
        None => "has the wrong type".to_owned(),
    };
    FieldError::new(path, message)
}

/// Query parameters; a query string that cannot be decoded (bad percent
/// escapes, a repeated parameter) is 400.
pub(crate) struct ApiQuery<T>(pub(crate) T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Self(value))
            .map_err(|_| ApiError::bad_request("the query string is malformed"))
    }
}

/// The `{id}` of a task path, as text: the use case decides that a
/// non-UUID names no task (404).
pub(crate) struct TaskIdPath(pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for TaskIdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| Self(id))
            .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "task not found"))
    }
}

/// The caller named by a valid bearer token. Whether its session is still
/// active is checked by the use case with the work itself.
pub(crate) struct Authenticated(pub(crate) Principal);

/// Tokens longer than this are refused without verifying them.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers).ok_or_else(ApiError::unauthorized)?;
        match state.auth.principal(token) {
            Ok(principal) => Ok(Self(principal)),
            Err(AppError::Unauthorized) => Err(ApiError::unauthorized()),
            Err(other) => Err(other.into()),
        }
    }
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let (scheme, token) = value.to_str().ok()?.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.len() <= MAX_TOKEN_BYTES)
        .then_some(token)
}

/// The client's address for the failed-login limit: the TCP peer, or, when
/// configured behind a trusted proxy, the right-most `X-Forwarded-For`
/// entry (the one that proxy appended; entries to its left are whatever
/// the client claimed).
pub(crate) struct ClientIp(pub(crate) Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let forwarded = state
            .trust_forwarded_for
            .then(|| forwarded_for(&parts.headers))
            .flatten();
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        Ok(Self(forwarded.or(peer)))
    }
}

fn forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    let last = headers.get_all("x-forwarded-for").iter().next_back()?;
    last.to_str()
        .ok()?
        .rsplit(',')
        .next()
        .and_then(|entry| entry.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn json_content_types() {
        assert!(is_json(&headers(&[("content-type", "application/json")])));
        assert!(is_json(&headers(&[(
            "content-type",
            "Application/JSON; charset=utf-8"
        )])));
        assert!(is_json(&headers(&[(
            "content-type",
            "application/merge-patch+json"
        )])));
        assert!(!is_json(&headers(&[("content-type", "text/plain")])));
        assert!(!is_json(&headers(&[("content-type", "application/jsonx")])));
        assert!(!is_json(&headers(&[])));
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_needs_a_token() {
        assert_eq!(
            bearer_token(&headers(&[("authorization", "Bearer abc")])),
            Some("abc")
        );
        assert_eq!(
            bearer_token(&headers(&[("authorization", "bearer  abc ")])),
            Some("abc")
        );
        assert_eq!(
            bearer_token(&headers(&[("authorization", "Bearer ")])),
            None
        );
        assert_eq!(
            bearer_token(&headers(&[("authorization", "Basic abc")])),
            None
        );
        assert_eq!(bearer_token(&headers(&[("authorization", "abc")])), None);
        assert_eq!(
            bearer_token(&headers(&[
                ("authorization", "Bearer a"),
                ("authorization", "Bearer b")
            ])),
            None
        );
    }

    #[test]
    fn forwarded_for_takes_the_right_most_entry() {
        let map = headers(&[("x-forwarded-for", "1.1.1.1, 2.2.2.2")]);
        assert_eq!(forwarded_for(&map), Some("2.2.2.2".parse().unwrap()));
        let map = headers(&[("x-forwarded-for", "1.1.1.1"), ("x-forwarded-for", "::1")]);
        assert_eq!(forwarded_for(&map), Some("::1".parse().unwrap()));
        assert_eq!(
            forwarded_for(&headers(&[("x-forwarded-for", "junk")])),
            None
        );
    }
}
