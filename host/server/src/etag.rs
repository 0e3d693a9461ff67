//! Optimistic concurrency for edits: a resource's row version is its
//! `ETag` (`"7"`), and an edit sent with `If-Match: "7"` is applied only if
//! nobody changed the resource since; otherwise 412 and nothing is written.
//! An edit without `If-Match` (or with `If-Match: *`) is applied as before.

use axum::http::header::{ETAG, IF_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};

use crate::error::{ApiError, ApiResult};

/// The `ETag` response header for `version`.
pub fn header(version: i64) -> [(axum::http::HeaderName, HeaderValue); 1] {
    let value =
        HeaderValue::from_str(&format!("\"{version}\"")).expect("digits are a header value");
    [(ETAG, value)]
}

/// The version an `If-Match` header requires: `None` when absent or `*`.
///
/// # Errors
/// 400 when the header is not one ETag this server issued.
pub fn expected_version(headers: &HeaderMap) -> ApiResult<Option<i64>> {
    let Some(raw) = headers.get(IF_MATCH) else {
        return Ok(None);
    };
    let text = raw.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(None);
    }
    text.strip_prefix("W/")
        .unwrap_or(text)
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .and_then(|t| t.parse::<i64>().ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_if_match",
                "If-Match must be the ETag a GET of this resource returned, e.g. `\"3\"`",
            )
        })
}

/// 412 for an edit based on an old version.
pub fn precondition_failed(current: Option<i64>) -> ApiError {
    let err = ApiError::new(
        StatusCode::PRECONDITION_FAILED,
        "version_mismatch",
        "someone changed this connection since you read it; nothing was saved — GET it again (new ETag) and re-apply your edit",
    );
    match current {
        Some(v) => err.with_details(serde_json::json!({ "current_etag": format!("\"{v}\"") })),
        None => err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_if_match(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(IF_MATCH, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn if_match_forms() {
        assert_eq!(expected_version(&HeaderMap::new()).unwrap(), None);
        assert_eq!(expected_version(&with_if_match("*")).unwrap(), None);
        assert_eq!(
            expected_version(&with_if_match("\"12\"")).unwrap(),
            Some(12)
        );
        assert_eq!(
            expected_version(&with_if_match("W/\"3\"")).unwrap(),
            Some(3)
        );
        for bad in ["12", "\"x\"", "\"1\", \"2\""] {
            let e = expected_version(&with_if_match(bad)).unwrap_err();
            assert_eq!(e.code, "invalid_if_match", "{bad}");
        }
    }
}
