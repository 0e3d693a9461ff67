//! The one error type of the identity routes and its HTTP mapping. A
//! resource of another organization is `NotFound`, never `Forbidden`.

use axum::Json;
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
    /// A uniqueness rule refused the write.
    #[error("{0}")]
    Conflict(String),
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
            StoreError::Duplicate { .. } => Self::Conflict(e.to_string()),
            e => Self::Store(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "invalid_token"),
            Self::MissingScope(_) => (StatusCode::FORBIDDEN, "insufficient_scope"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::Throttled => (StatusCode::TOO_MANY_REQUESTS, "throttled"),
            Self::Store(e) => {
                tracing::error!(error = %e, "identity store failure");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
            Self::Internal(e) => {
                tracing::error!(error = %e, "identity argon2 task failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        let mut body = serde_json::json!({ "error": code, "message": self.to_string() });
        if let Self::MissingScope(s) = &self {
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
        resp
    }
}
