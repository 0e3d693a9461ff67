//! The typed [`ConnectorError`] a connector returns, with constructors and
//! conversions. The host maps each case to a connection status and an HTTP
//! status (400, 401, 403, 404, 429, 502), so pick the precise one.

use crate::bindings::plugboard::connector::http::HttpError;
use crate::bindings::plugboard::connector::types::{
    ForbiddenError, ProviderError, RateLimitedError,
};

pub use crate::bindings::plugboard::connector::types::ConnectorError;
pub use crate::bindings::plugboard::connector::types::{
    ForbiddenError as Forbidden, ProviderError as Provider, RateLimitedError as RateLimited,
};

impl ConnectorError {
    /// The input did not match the operation's schema or rules.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::InvalidInput(message.into())
    }

    /// The credential was refused.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::Unauthorized(message.into())
    }

    /// The credential lacks permission; `missing_scopes` if the provider says.
    pub fn forbidden<S: Into<String>>(
        message: impl Into<String>,
        missing_scopes: impl IntoIterator<Item = S>,
    ) -> Self {
        Self::Forbidden(ForbiddenError {
            message: message.into(),
            missing_scopes: missing_scopes.into_iter().map(Into::into).collect(),
        })
    }

    /// The thing asked for does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(message.into())
    }

    /// The provider asks to slow down, maybe saying for how long.
    pub fn rate_limited(message: impl Into<String>, retry_after_seconds: Option<u32>) -> Self {
        Self::RateLimited(RateLimitedError {
            message: message.into(),
            retry_after_seconds,
        })
    }

    /// The provider failed or answered something unexpected.
    pub fn provider(status: Option<u16>, code: Option<String>, message: impl Into<String>) -> Self {
        Self::Provider(ProviderError {
            status,
            code,
            message: message.into(),
        })
    }

    /// A person must re-authorize the connection; `message` says why.
    pub fn reconnect_required(message: impl Into<String>) -> Self {
        Self::ReconnectRequired(message.into())
    }

    /// A bug in the connector.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal(message.into())
    }

    /// The error for an HTTP status with the provider's message, when the
    /// provider has no more precise error body: 400/422 → invalid input,
    /// 401 → unauthorized, 403 → forbidden, 404 → not found, 429 → rate
    /// limited, anything else → provider error.
    pub fn from_status(status: u16, code: Option<String>, message: impl Into<String>) -> Self {
        let message = message.into();
        match status {
            400 | 422 => Self::InvalidInput(message),
            401 => Self::Unauthorized(message),
            403 => Self::forbidden(message, Vec::<String>::new()),
            404 => Self::NotFound(message),
            429 => Self::rate_limited(message, None),
            _ => Self::provider(Some(status), code, message),
        }
    }
}

impl From<HttpError> for ConnectorError {
    /// A failed send: a credential the host could not obtain means the
    /// connection must be reconnected; everything else is a provider-side or
    /// connector-side failure, named in the message.
    fn from(error: HttpError) -> Self {
        match error {
            HttpError::CredentialUnavailable(message) => Self::ReconnectRequired(message),
            HttpError::DestinationNotAllowed(message) => {
                Self::internal(format!("request refused by the host: {message}"))
            }
            HttpError::InvalidRequest(message) => {
                Self::internal(format!("invalid request: {message}"))
            }
            HttpError::Timeout => Self::provider(None, None, "the provider did not answer in time"),
            HttpError::ConnectionFailed(message) => Self::provider(
                None,
                None,
                format!("could not reach the provider: {message}"),
            ),
            HttpError::ResponseTooLarge(limit) => Self::provider(
                None,
                None,
                format!("the provider's response exceeded the host's limit of {limit} bytes"),
            ),
            HttpError::TooManyRequests(limit) => Self::internal(format!(
                "this call exceeded the host's limit of {limit} HTTP requests"
            )),
        }
    }
}
