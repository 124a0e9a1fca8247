//! `If-Match` (RFC 9110 §13.1.1) for task versions. Our entity tags are
//! the version in quotes, `"3"`. Leniently, `W/"3"` and a bare `3` are
//! accepted too. An `If-Match` that is not `*` or a list of entity tags is
//! 400: the client sent something we cannot judge.

use axum::http::{header, HeaderMap};

use crate::problem::ApiError;

/// What the client's `If-Match` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IfMatch {
    /// `*`: any current version.
    Any,
    /// One of these versions. Tags that are not a version number are
    /// dropped; they can never match, so an empty list always fails (412).
    Versions(Vec<i64>),
}

/// `None` when the request has no `If-Match`.
pub(crate) fn if_match(headers: &HeaderMap) -> Result<Option<IfMatch>, ApiError> {
    let mut values = headers.get_all(header::IF_MATCH).iter().peekable();
    if values.peek().is_none() {
        return Ok(None);
    }
    let mut versions = Vec::new();
    for value in values {
        let text = value.to_str().map_err(|_| malformed())?;
        if text.trim() == "*" {
            return Ok(Some(IfMatch::Any));
        }
        versions.extend(parse_tags(text).ok_or_else(malformed)?);
    }
    Ok(Some(IfMatch::Versions(versions)))
}

fn malformed() -> ApiError {
    ApiError::bad_request(r#"If-Match must be "*" or entity tags such as "3""#)
}

/// The versions named by a comma-separated list of entity tags, or `None`
/// if the list is not one.
fn parse_tags(text: &str) -> Option<Vec<i64>> {
    let mut versions = Vec::new();
    let mut rest = text;
    let mut seen_any = false;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            break;
        }
        seen_any = true;
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
            if bare.is_empty() || !bare.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (bare, &unweak[end..])
        };
        let after = after.trim_start_matches([' ', '\t']);
        if !(after.is_empty() || after.starts_with(',')) {
            return None;
        }
        if let Ok(version) = opaque.parse::<i64>() {
            if version >= 1 && opaque.bytes().all(|b| b.is_ascii_digit()) {
                versions.push(version);
            }
        }
        rest = after;
    }
    seen_any.then_some(versions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn parse(value: &'static str) -> Result<Option<IfMatch>, u16> {
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_MATCH, HeaderValue::from_static(value));
        if_match(&headers).map_err(|e| e.status().as_u16())
    }

    #[test]
    fn strong_weak_and_bare_versions_are_understood() {
        assert_eq!(parse(r#""3""#), Ok(Some(IfMatch::Versions(vec![3]))));
        assert_eq!(parse(r#"W/"3""#), Ok(Some(IfMatch::Versions(vec![3]))));
        assert_eq!(parse("3"), Ok(Some(IfMatch::Versions(vec![3]))));
        assert_eq!(
            parse(r#" "2", W/"5" "#),
            Ok(Some(IfMatch::Versions(vec![2, 5])))
        );
        assert_eq!(parse("*"), Ok(Some(IfMatch::Any)));
    }

    #[test]
    fn tags_that_are_not_versions_never_match() {
        assert_eq!(parse(r#""abc""#), Ok(Some(IfMatch::Versions(vec![]))));
        assert_eq!(parse(r#""0""#), Ok(Some(IfMatch::Versions(vec![]))));
        assert_eq!(
            parse(r#""99999999999999999999999""#),
            Ok(Some(IfMatch::Versions(vec![])))
        );
    }

    #[test]
    fn malformed_if_match_is_400() {
        for bad in ["", "   ", r#""3"#, "abc", r#""3" x"#, "-1", r#""a"b""#] {
            assert_eq!(parse(bad), Err(400), "{bad:?}");
        }
    }

    #[test]
    fn no_if_match_is_none() {
        assert_eq!(if_match(&HeaderMap::new()).unwrap(), None);
    }
}
