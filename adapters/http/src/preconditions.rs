//! Conditional requests (RFC 9110 §13) on task versions. Our entity tags
//! are the version in quotes, `"3"`, always strong.
//!
//! - `If-Match` uses the strong comparison: `W/"3"` never matches (a bare
//!   `3` is still accepted, leniently). It becomes the use case's
//!   [`Precondition`]; the repository enforces it in the write itself.
//! - `If-None-Match` on a read uses the weak comparison: `W/"3"` matches.
//!
//! A header that is not `*` or a list of entity tags is 400: the client
//! sent something we cannot judge.

use application::ports::Precondition;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue};

use crate::problem::ApiError;

/// The `ETag` of a task at `version`.
pub(crate) fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).expect("a number in quotes is a valid header")
}

/// The client's `If-Match` as the use case's precondition; `Any` when the
/// request has none (or `*`).
pub(crate) fn if_match(headers: &HeaderMap) -> Result<Precondition, ApiError> {
    Ok(match tags(headers, header::IF_MATCH)? {
        None | Some(Tags::Any) => Precondition::Any,
        Some(Tags::List(list)) => Precondition::OneOf(
            list.into_iter()
                .filter(|tag| !tag.weak)
                .filter_map(|tag| tag.version)
                .collect(),
        ),
    })
}

/// Whether `If-None-Match` names `version` (weak comparison) or is `*`:
/// then a read answers 304. `false` without the header.
pub(crate) fn none_match_hits(headers: &HeaderMap, version: i64) -> Result<bool, ApiError> {
    Ok(match tags(headers, header::IF_NONE_MATCH)? {
        None => false,
        Some(Tags::Any) => true,
        Some(Tags::List(list)) => list.iter().any(|tag| tag.version == Some(version)),
    })
}

/// One entity tag: the version it names (none for tags that are not a
/// version number: they can never match) and whether it is weak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tag {
    version: Option<i64>,
    weak: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tags {
    Any,
    List(Vec<Tag>),
}

fn tags(headers: &HeaderMap, name: HeaderName) -> Result<Option<Tags>, ApiError> {
    let mut values = headers.get_all(&name).iter().peekable();
    if values.peek().is_none() {
        return Ok(None);
    }
    let malformed = || {
        ApiError::bad_request(format!(
            r#"{name} must be "*" or entity tags such as "3""#,
            name = if name == header::IF_MATCH {
                "If-Match"
            } else {
                "If-None-Match"
            }
        ))
    };
    let mut list = Vec::new();
    for value in values {
        let text = value.to_str().map_err(|_| malformed())?;
        if text.trim() == "*" {
            return Ok(Some(Tags::Any));
        }
        list.extend(parse_tags(text).ok_or_else(malformed)?);
    }
    Ok(Some(Tags::List(list)))
}

/// The tags of a comma-separated list, or `None` if the text is not one.
fn parse_tags(text: &str) -> Option<Vec<Tag>> {
    let mut tags = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            break;
        }
        let weak = rest.starts_with("W/");
        let unweak = rest.strip_prefix("W/").unwrap_or(rest);
        let (opaque, after) = if let Some(quoted) = unweak.strip_prefix('"') {
            let end = quoted.find('"')?;
            let opaque = &quoted[..end];
            if !opaque
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x7e).contains(&b))
            {
                return None;
            }
            (opaque, &quoted[end + 1..])
        } else {
            // A bare version number, leniently.
            let end = unweak.find([',', ' ', '\t']).unwrap_or(unweak.len());
            let bare = &unweak[..end];
            if weak || bare.is_empty() || !bare.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (bare, &unweak[end..])
        };
        let after = after.trim_start_matches([' ', '\t']);
        if !(after.is_empty() || after.starts_with(',')) {
            return None;
        }
        let version = opaque
            .parse::<i64>()
            .ok()
            .filter(|v| *v >= 1 && opaque.bytes().all(|b| b.is_ascii_digit()));
        tags.push(Tag { version, weak });
        rest = after;
    }
    (!tags.is_empty()).then_some(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: HeaderName, value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_static(value));
        headers
    }

    fn parse(value: &'static str) -> Result<Precondition, u16> {
        if_match(&headers(header::IF_MATCH, value)).map_err(|e| e.status().as_u16())
    }

    #[test]
    fn strong_and_bare_versions_are_understood() {
        assert_eq!(parse(r#""3""#), Ok(Precondition::OneOf(vec![3])));
        assert_eq!(parse("3"), Ok(Precondition::OneOf(vec![3])));
        assert_eq!(parse(r#" "2", "5" "#), Ok(Precondition::OneOf(vec![2, 5])));
        assert_eq!(parse("*"), Ok(Precondition::Any));
    }

    #[test]
    fn weak_tags_never_match_if_match() {
        assert_eq!(parse(r#"W/"3""#), Ok(Precondition::OneOf(vec![])));
        assert_eq!(parse(r#"W/"3", "4""#), Ok(Precondition::OneOf(vec![4])));
    }

    #[test]
    fn tags_that_are_not_versions_never_match() {
        assert_eq!(parse(r#""abc""#), Ok(Precondition::OneOf(vec![])));
        assert_eq!(parse(r#""0""#), Ok(Precondition::OneOf(vec![])));
        assert_eq!(
            parse(r#""99999999999999999999999""#),
            Ok(Precondition::OneOf(vec![]))
        );
    }

    #[test]
    fn malformed_if_match_is_400() {
        for bad in [
            "", "   ", r#""3"#, "abc", r#""3" x"#, "-1", r#""a"b""#, "W/3",
        ] {
            assert_eq!(parse(bad), Err(400), "{bad:?}");
        }
    }

    #[test]
    fn no_if_match_admits_any_version() {
        assert_eq!(if_match(&HeaderMap::new()).unwrap(), Precondition::Any);
    }

    #[test]
    fn if_none_match_compares_weakly() {
        let hit = |value| none_match_hits(&headers(header::IF_NONE_MATCH, value), 3).unwrap();
        assert!(hit(r#""3""#));
        assert!(hit(r#"W/"3""#));
        assert!(hit(r#""1", "3""#));
        assert!(hit("*"));
        assert!(!hit(r#""4""#));
        assert!(!none_match_hits(&HeaderMap::new(), 3).unwrap());
    }
}
