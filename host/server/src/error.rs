//! The one JSON error body every route returns.
//!
//! An error has an HTTP status, a stable machine `code` (clients switch on
//! it), a human `message` that says what to do next, and optional `details`.
//! Messages are written by the server: never put a request body, header,
//! token or provider secret into them. Provider messages are passed through
//! only where they are the provider's error text (seed 001 "provider error
//! message"), never credentials.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Stable, machine-readable code, e.g. `connection_not_found`.
    pub code: String,
    /// What went wrong and what to do about it, for people.
    pub message: String,
    /// Structured extra information (missing scopes, references, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

/// An error a handler returns; turns into status + [`ErrorBody`].
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<serde_json::Value>,
    /// Seconds for a `Retry-After` header (rate limits).
    pub retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// A fault of ours. The cause is logged (it may be long or internal);
    /// the client gets a generic message and the request id to quote.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed to handle this request; it has been logged — retry, and report the x-request-id header if it persists",
        )
    }

    pub fn unavailable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code.to_string(),
            message: self.message,
            details: self.details,
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(v) = http::HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(http::header::RETRY_AFTER, v);
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        // axum's text names the position and the serde reason, never echoes
        // the body; it is safe and useful to pass on.
        let (code, status) = match &rejection {
            JsonRejection::MissingJsonContentType(_) => {
                ("unsupported_media_type", StatusCode::UNSUPPORTED_MEDIA_TYPE)
            }
            JsonRejection::BytesRejection(_)
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                ("payload_too_large", StatusCode::PAYLOAD_TOO_LARGE)
            }
            // The body broke off, or took longer than the edge allows.
            JsonRejection::BytesRejection(_) => ("body_unreadable", StatusCode::BAD_REQUEST),
            _ => ("invalid_json", StatusCode::BAD_REQUEST),
        };
        let hint = match code {
            "unsupported_media_type" => {
                "send the body as JSON with `Content-Type: application/json`"
            }
            "payload_too_large" => PAYLOAD_TOO_LARGE_HINT,
            "body_unreadable" => "the request body could not be read in full; send it again",
            _ => "fix the request body; the expected shape is in /api/openapi.json",
        };
        ApiError::new(status, code, format!("{}: {hint}", rejection.body_text()))
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::bad_request(
            "invalid_path",
            format!("{}: check the ids in the URL", rejection.body_text()),
        )
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::bad_request(
            "invalid_query",
            format!("{}: check the query parameters", rejection.body_text()),
        )
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

const PAYLOAD_TOO_LARGE_HINT: &str = "the body is larger than this route accepts; send less, or ask the operator to raise `PLUGBOARD_REQUEST_BODY_BYTES` (uploads: `PLUGBOARD_COMPONENT_BYTES`)";

/// Middleware: an error the framework answers by itself (a body over the
/// limit read by a `Bytes` extractor, a method the route lacks) comes as
/// plain text or nothing; give it the same JSON body as every other error.
/// HTML pages (the OAuth callback) and JSON answers pass unchanged.
pub async fn json_errors(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let plain = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| ct.starts_with("text/plain"));
    if !plain {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // The framework's texts are short and never echo the request.
    let text = axum::body::to_bytes(body, 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let (code, hint) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", PAYLOAD_TOO_LARGE_HINT),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this path does not take that method; the `Allow` header and /api/openapi.json list the ones it does",
        ),
        StatusCode::NOT_FOUND => ("not_found", "no such route; /api/openapi.json lists them"),
        StatusCode::REQUEST_TIMEOUT => (
            "request_timeout",
            "the request took too long to arrive; send it again",
        ),
        _ => (
            "http_error",
            "see /api/openapi.json for what this route expects",
        ),
    };
    let message = if text.is_empty() {
        hint.to_string()
    } else {
        format!("{text}: {hint}")
    };
    let json = ApiError::new(status, code, message).into_response();
    // Keep the framework's headers that matter (`Allow`), take the body's type.
    parts.headers.remove(http::header::CONTENT_LENGTH);
    let (json_parts, json_body) = json.into_parts();
    parts.headers.extend(json_parts.headers);
    Response::from_parts(parts, json_body)
}
