//! Our own extractors. Each turns every way a request can be malformed into
//! a problem answer, so axum's plain-text rejections never reach a client.

use std::net::{IpAddr, SocketAddr};

use application::{AppError, FieldError, Principal};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::{self, DeserializeOwned, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::problem::ApiError;
use crate::state::AppState;

/// A JSON request body, parsed.
///
/// - no or another `Content-Type`, a `charset` other than UTF-8, or a
///   `Content-Encoding` other than `identity` → 415
/// - larger than the body limit → 413
/// - not JSON (syntax, invalid UTF-8, nesting too deep, trailing bytes,
///   numbers out of range) or an object with a key twice → 400
/// - JSON of the wrong shape (a field of the wrong type, not an object) →
///   422 naming the field
pub(crate) struct JsonBody<T> {
    pub(crate) value: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        check_media(req.headers())?;
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

/// 415 unless the body is JSON in UTF-8, sent as is: a body we would
/// otherwise read as something it is not.
fn check_media(headers: &HeaderMap) -> Result<(), ApiError> {
    if !is_json(headers) {
        return Err(ApiError::unsupported_media_type());
    }
    if !charset_is_utf8(headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the request body must be UTF-8 (charset=utf-8 or none)",
        ));
    }
    if !identity_encoded(headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the request body must not be compressed (Content-Encoding: identity or none)",
        ));
    }
    Ok(())
}

/// `application/json`, or any `application/…+json` (e.g. merge-patch).
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = content_type(headers) else {
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

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

/// No `charset` parameter (JSON is UTF-8, RFC 8259 §8.1), or `utf-8`
/// (any case, quoted or not; `utf8` too).
fn charset_is_utf8(headers: &HeaderMap) -> bool {
    let Some(value) = content_type(headers) else {
        return true;
    };
    value.split(';').skip(1).all(|param| {
        let Some((name, charset)) = param.split_once('=') else {
            return true;
        };
        if !name.trim().eq_ignore_ascii_case("charset") {
            return true;
        }
        let charset = charset.trim().trim_matches('"');
        charset.eq_ignore_ascii_case("utf-8") || charset.eq_ignore_ascii_case("utf8")
    })
}

/// Every `Content-Encoding` coding is `identity` (or there is none).
fn identity_encoded(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::CONTENT_ENCODING)
        .iter()
        .all(|value| {
            value.to_str().is_ok_and(|text| {
                text.split(',')
                    .map(str::trim)
                    .all(|coding| coding.is_empty() || coding.eq_ignore_ascii_case("identity"))
            })
        })
}

/// Two steps: the whole document into a `Value` first, so the nesting limit
/// (128) and the number range apply everywhere, unknown fields included;
/// then the shape, which can only fail as "wrong type" (422).
pub(crate) fn parse_json<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ApiError> {
    let UniqueKeys(document) = serde_json::from_slice(raw).map_err(|err| not_json(&err))?;
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
    // The only data error [`UniqueKeys`] raises is a repeated key.
    let what = if err.is_data() {
        "has a key twice in one object"
    } else {
        "is not valid JSON"
    };
    ApiError::bad_request(format!(
        "the request body {what} (line {}, column {})",
        err.line(),
        err.column()
    ))
}

/// A JSON document read like `serde_json::Value`, except that an object
/// with the same key twice is an error: `Value` keeps the last one, so
/// `{"title": "", "title": "ok"}` would pass a check a proxy or a WAF made
/// on the first one.
struct UniqueKeys(serde_json::Value);

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueKeysVisitor).map(Self)
    }
}

struct UniqueKeysVisitor;

impl<'de> Visitor<'de> for UniqueKeysVisitor {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, Into::into))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        UniqueKeys::deserialize(d).map(|UniqueKeys(v)| v)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(UniqueKeys(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(serde_json::Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom("duplicate key"));
            }
            let UniqueKeys(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(serde_json::Value::Object(object))
    }
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

/// The client's `User-Agent`, as text (a value that is not visible ASCII
/// or Latin-1 text is treated as absent); the use cases truncate it.
pub(crate) struct UserAgentHeader(pub(crate) Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for UserAgentHeader {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        ))
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
    fn only_utf8_charsets_and_identity_encoding_are_accepted() {
        let ok = [
            vec![("content-type", "application/json")],
            vec![("content-type", "application/json; charset=UTF-8")],
            vec![("content-type", "application/json;charset=\"utf-8\"")],
            vec![
                ("content-type", "application/json"),
                ("content-encoding", "identity"),
            ],
        ];
        for pairs in ok {
            assert!(check_media(&headers(&pairs)).is_ok(), "{pairs:?}");
        }
        let refused = [
            vec![("content-type", "application/json; charset=iso-8859-1")],
            vec![("content-type", "application/json; charset=utf-16")],
            vec![
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
            vec![
                ("content-type", "application/json"),
                ("content-encoding", "identity, br"),
            ],
            vec![
                ("content-type", "application/json"),
                ("content-encoding", "identity"),
                ("content-encoding", "deflate"),
            ],
        ];
        for pairs in refused {
            let status = check_media(&headers(&pairs)).unwrap_err().status();
            assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{pairs:?}");
        }
    }

    #[derive(Debug, serde::Deserialize)]
    struct Titled {
        title: Option<String>,
    }

    #[test]
    fn a_key_given_twice_is_refused_at_any_depth() {
        for body in [
            r#"{"title":"","title":"ok"}"#,
            r#"{"title":"ok","x":{"a":1,"a":2}}"#,
            r#"{"title":"ok","x":[{"b":1,"b":1}]}"#,
        ] {
            let err = parse_json::<Titled>(body.as_bytes()).unwrap_err();
            assert_eq!(err.status(), StatusCode::BAD_REQUEST, "{body}");
        }
        let titled: Titled = parse_json(
            br#"{"title":"ok","x":{"title":1},"n":[1.5,-2,18446744073709551615,null,true]}"#,
        )
        .unwrap();
        assert_eq!(titled.title.as_deref(), Some("ok"));
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
