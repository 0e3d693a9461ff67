//! Zoom's error bodies (`{"code": 124, "message": "Invalid access token."}`)
//! mapped to typed connector errors, with messages that tell a person what
//! to do. Pure functions: tested natively.

use plugboard_sdk::ConnectorError;
use plugboard_sdk::http::Response;
use serde::Deserialize;

/// Zoom: invalid access token.
pub const INVALID_ACCESS_TOKEN: i64 = 124;
/// Zoom: the token lacks scopes, or the app lacks an admin's approval.
pub const NOT_APPROVED_OR_MISSING_SCOPES: i64 = 4711;
/// Zoom: the token lacks permissions.
pub const MISSING_PERMISSIONS: i64 = 4700;
/// Zoom: user does not exist.
pub const USER_NOT_FOUND: i64 = 1001;
/// Zoom: meeting does not exist.
pub const MEETING_NOT_FOUND: i64 = 3001;
/// Zoom: the meeting has no recording.
pub const NO_RECORDING: i64 = 3301;

/// What to do when Zoom wants an admin to approve the app.
pub const PRE_APPROVAL_HELP: &str = "A Zoom account admin must pre-approve this app: \
ask an admin of your Zoom account to open the Zoom App Marketplace, find the app \
(Manage > Permissions / Pre-approve), pre-approve it for your account, then reconnect.";

/// Why a valid-looking Zoom connection suddenly gets 401.
pub const REPLACED_SESSION_HELP: &str = "Zoom keeps one OAuth session per app and Zoom user: \
a newer connection made for the same Zoom account (here or elsewhere with the same app) \
likely replaced this one. Reconnect to use it again.";

/// Zoom's error body.
#[derive(Debug, Default, Deserialize)]
struct ZoomError {
    #[serde(default)]
    code: Option<serde_json::Value>,
    #[serde(default)]
    message: Option<String>,
}

/// `Ok(response)` for 2xx; otherwise the typed error for Zoom's answer.
///
/// # Errors
/// The mapped error ([`from_response`]).
pub fn check(response: Response) -> Result<Response, ConnectorError> {
    if response.is_success() {
        Ok(response)
    } else {
        Err(from_response(&response))
    }
}

/// The typed error for a non-2xx Zoom response.
pub fn from_response(response: &Response) -> ConnectorError {
    from_parts(response.status, response.retry_after(), &response.body)
}

/// The typed error for a Zoom status, `Retry-After` and body.
pub fn from_parts(status: u16, retry_after: Option<u32>, body: &[u8]) -> ConnectorError {
    let parsed: ZoomError = serde_json::from_slice(body).unwrap_or_default();
    let code = parsed.code.as_ref().and_then(|c| match c {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    });
    let message = parsed
        .message
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body).trim().to_owned();
            if text.is_empty() {
                format!("HTTP {status}")
            } else {
                text
            }
        });
    let lower = message.to_ascii_lowercase();
    let code_text = code.map(|c| c.to_string());

    if code == Some(NOT_APPROVED_OR_MISSING_SCOPES)
        || lower.contains("pre-approv")
        || lower.contains("preapprov")
        || lower.contains("admin approv")
        || lower.contains("approved by")
    {
        let missing = missing_scopes(&message);
        let advice = if missing.is_empty() {
            PRE_APPROVAL_HELP.to_owned()
        } else {
            format!(
                "The connection lacks the scopes {}: reconnect granting them. {PRE_APPROVAL_HELP}",
                missing.join(", ")
            )
        };
        return ConnectorError::forbidden(format!("Zoom refused: {message}. {advice}"), missing);
    }
    if status == 401 || code == Some(INVALID_ACCESS_TOKEN) {
        // The host has already refreshed the token once and retried.
        return ConnectorError::reconnect_required(format!(
            "Zoom rejected the access token: {message}. {REPLACED_SESSION_HELP}"
        ));
    }
    if code == Some(MISSING_PERMISSIONS) || status == 403 {
        return ConnectorError::forbidden(
            format!("Zoom refused: {message}"),
            missing_scopes(&message),
        );
    }
    if status == 429 {
        return ConnectorError::rate_limited(format!("Zoom rate limit: {message}"), retry_after);
    }
    if status == 404
        || matches!(
            code,
            Some(USER_NOT_FOUND) | Some(MEETING_NOT_FOUND) | Some(NO_RECORDING)
        )
    {
        return ConnectorError::not_found(message);
    }
    if status == 400 || status == 422 {
        return ConnectorError::invalid_input(match code {
            Some(code) => format!("Zoom: {message} (code {code})"),
            None => format!("Zoom: {message}"),
        });
    }
    ConnectorError::provider(Some(status), code_text, message)
}

/// The scopes in Zoom's "does not contain scopes:[a, b]" message.
pub fn missing_scopes(message: &str) -> Vec<String> {
    let Some(start) = message.find("scopes:[") else {
        return Vec::new();
    };
    let rest = &message[start + "scopes:[".len()..];
    let Some(end) = rest.find(']') else {
        return Vec::new();
    };
    rest[..end]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(status: u16, body: &str) -> ConnectorError {
        from_parts(status, None, body.as_bytes())
    }

    #[test]
    fn invalid_token_after_refresh_asks_to_reconnect_and_explains_zoom_sessions() {
        let err = map(401, r#"{"code":124,"message":"Invalid access token."}"#);
        let ConnectorError::ReconnectRequired(message) = err else {
            panic!("expected reconnect-required, got {err:?}")
        };
        assert!(message.contains("Invalid access token."));
        assert!(message.contains("newer connection"));
        assert!(message.contains("same Zoom account"));
    }

    #[test]
    fn pre_approval_error_is_forbidden_and_says_how_to_fix_it() {
        let err = map(
            400,
            r#"{"code":4711,"message":"This app requires admin pre-approval."}"#,
        );
        let ConnectorError::Forbidden(forbidden) = err else {
            panic!("expected forbidden, got {err:?}")
        };
        assert!(forbidden.message.contains("pre-approve"));
        assert!(forbidden.message.contains("Zoom App Marketplace"));
        assert!(forbidden.missing_scopes.is_empty());
    }

    #[test]
    fn pre_approval_is_recognized_by_message_without_the_code() {
        let err = map(
            403,
            r#"{"message":"The app has not been approved by your admin (admin approval required)"}"#,
        );
        assert!(matches!(err, ConnectorError::Forbidden(f) if f.message.contains("pre-approve")));
    }

    #[test]
    fn missing_scopes_are_extracted() {
        let err = map(
            400,
            r#"{"code":4711,"message":"Invalid access token, does not contain scopes:[meeting:write, meeting:write:admin]."}"#,
        );
        let ConnectorError::Forbidden(forbidden) = err else {
            panic!("expected forbidden, got {err:?}")
        };
        assert_eq!(
            forbidden.missing_scopes,
            ["meeting:write", "meeting:write:admin"]
        );
        assert!(forbidden.message.contains("reconnect granting them"));
    }

    #[test]
    fn not_found_codes_and_statuses() {
        assert!(matches!(
            map(404, r#"{"code":1001,"message":"User does not exist: x."}"#),
            ConnectorError::NotFound(m) if m == "User does not exist: x."
        ));
        assert!(matches!(
            map(
                400,
                r#"{"code":3301,"message":"This recording does not exist."}"#
            ),
            ConnectorError::NotFound(_)
        ));
    }

    #[test]
    fn rate_limit_keeps_retry_after() {
        let err = from_parts(
            429,
            Some(30),
            br#"{"code":429,"message":"Too many requests."}"#,
        );
        assert!(matches!(err, ConnectorError::RateLimited(r) if r.retry_after_seconds == Some(30)));
    }

    #[test]
    fn validation_errors_are_invalid_input_with_the_code() {
        assert!(matches!(
            map(400, r#"{"code":300,"message":"Invalid start_time."}"#),
            ConnectorError::InvalidInput(m) if m.contains("Invalid start_time.") && m.contains("300")
        ));
    }

    #[test]
    fn server_errors_and_non_json_bodies_are_provider_errors() {
        let err = map(502, "<html>bad gateway</html>");
        assert!(matches!(
            err,
            ConnectorError::Provider(p) if p.status == Some(502) && p.message.contains("bad gateway")
        ));
        assert!(matches!(
            map(500, r#"{"code":5000,"message":"oops"}"#),
            ConnectorError::Provider(p) if p.code.as_deref() == Some("5000")
        ));
    }
}
