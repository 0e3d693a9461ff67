//! The one error type of the identity routes and its HTTP mapping, in the
//! two formats the APIs use: seed 003's routes answer `{"error": code,
//! "message"}`, seed 004's (OData) routes answer OData's `{"error":
//! {"code", "message"}}` ([`odata_errors`] reshapes every error answer of
//! those routes, axum's own included). A resource of another organization
//! is `NotFound`, never `Forbidden`. No message carries a secret.

use axum::Json;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use plugboard_store::StoreError;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No such resource in the caller's organization (or at all).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// No, unknown or expired bearer token.
    #[error("a valid bearer access token is required")]
    Unauthorized,
    /// The token lacks the scope the route needs.
    #[error("the access token lacks the scope `{0}`")]
    MissingScope(String),
    /// Too many failed sign-in attempts recently.
    #[error("too many failed attempts; try again later")]
    Throttled,
    /// The password was right, but the user works in no tenant, so there
    /// is nothing to sign in to (the attempt is recorded as failed).
    #[error("user `{0}` does not work in any tenant yet; ask an administrator to add them to one")]
    NoTenant(String),
    /// A uniqueness rule or a built-in refused the write.
    #[error("{0}")]
    Conflict(String),
    /// The body is larger than the server accepts.
    #[error("the request body is too large")]
    TooLarge,
    /// The store failed.
    #[error("internal error")]
    Store(#[source] StoreError),
    /// A password or secret hashing or verification task did not finish.
    #[error("internal error")]
    Internal(#[source] tokio::task::JoinError),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what, .. } => Self::NotFound(what),
            StoreError::Duplicate { .. } | StoreError::InUse { .. } => {
                Self::Conflict(e.to_string())
            }
            e => Self::Store(e),
        }
    }
}

impl ApiError {
    /// The status and the stable error code.
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "invalid_token"),
            Self::MissingScope(_) => (StatusCode::FORBIDDEN, "insufficient_scope"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::Throttled => (StatusCode::TOO_MANY_REQUESTS, "throttled"),
            Self::NoTenant(_) => (StatusCode::FORBIDDEN, "no_tenant"),
            Self::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::Store(_) | Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

/// What an error answer said, kept in the response's extensions so
/// [`odata_errors`] can say it in OData's format.
#[derive(Clone, Debug)]
struct ErrorDetails {
    code: &'static str,
    message: String,
    scope: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        match &self {
            Self::Store(e) => tracing::error!(error = %e, "identity store failure"),
            Self::Internal(e) => tracing::error!(error = %e, "identity argon2 task failed"),
            _ => {}
        }
        let scope = match &self {
            Self::MissingScope(s) => Some(s.clone()),
            _ => None,
        };
        let mut body = serde_json::json!({ "error": code, "message": self.to_string() });
        if let Some(s) = &scope {
            body["scope"] = serde_json::Value::String(s.clone());
        }
        let mut resp = (status, Json(body)).into_response();
        let challenge = match &self {
            Self::Unauthorized => Some("Bearer error=\"invalid_token\"".to_owned()),
            Self::MissingScope(s) => Some(format!(
                "Bearer error=\"insufficient_scope\", scope=\"{s}\""
            )),
            _ => None,
        };
        if let Some(c) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, c);
        }
        resp.extensions_mut().insert(ErrorDetails {
            code,
            message: self.to_string(),
            scope,
        });
        resp
    }
}

/// Layer of the OData routes: an error answer becomes OData's
/// `{"error": {"code", "message", "target"?}}` (the missing scope is the
/// `target`), with its status and headers. Answers axum makes itself (405)
/// get a code from their status.
pub(crate) async fn odata_errors(resp: Response) -> Response {
    let status = resp.status();
    if !status.is_client_error() && !status.is_server_error() {
        return resp;
    }
    let details = resp
        .extensions()
        .get::<ErrorDetails>()
        .cloned()
        .unwrap_or_else(|| ErrorDetails {
            code: match status {
                StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
                StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
                s if s.is_server_error() => "internal",
                _ => "bad_request",
            },
            message: status
                .canonical_reason()
                .unwrap_or("request refused")
                .to_lowercase(),
            scope: None,
        });
    let mut error = serde_json::json!({ "code": details.code, "message": details.message });
    if let Some(scope) = details.scope {
        error["target"] = serde_json::Value::String(scope);
    }
    let (mut parts, _) = resp.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let body = serde_json::json!({ "error": error }).to_string();
    Response::from_parts(parts, Body::from(body))
}
