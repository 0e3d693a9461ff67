//! One error enum for the crate; variants name the step. Messages are for
//! people (they reach the console and the connection's status message) and
//! never contain a token, a secret, or a raw provider response body.

use std::time::Duration;

use plugboard_manifest::{AuthKind, TemplateError};
use plugboard_store::StoreError;

/// What Zoom (and other providers with admin pre-approval) need an admin to
/// do, from seed 002.
pub const PRE_APPROVAL_HELP: &str = "An administrator of your account at the provider must \
pre-approve this app before users can connect it. For Zoom: sign in to \
https://marketplace.zoom.us/ as account owner or admin, choose Manage → Permissions, and \
either pre-approve this app (\"Who can install\" → Pre-approve, for everyone or for specific \
users and groups) or allow publicly listed apps to be installed without admin pre-approval. \
Then connect again.";

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("connector `{connector}` does not offer auth kind `{kind}`")]
    NoSuchMethod { connector: String, kind: AuthKind },

    #[error("connector `{connector}`, auth kind `{kind}`: {reason}")]
    BadMethod {
        connector: String,
        kind: AuthKind,
        reason: String,
    },

    #[error(
        "connector `{connector}` has no OAuth app configured for `{kind}`: the operator must set \
         `{id_env}` and `{secret_env}` (or `{config_key}.client_id` / `{config_key}.client_secret` \
         in the config file); alternatively connect with your own OAuth app (BYOA)"
    )]
    AppNotConfigured {
        connector: String,
        kind: AuthKind,
        id_env: String,
        secret_env: String,
        config_key: String,
    },

    #[error(transparent)]
    Template(#[from] TemplateError),

    #[error("invalid {what}: {reason}")]
    InvalidInput { what: &'static str, reason: String },

    #[error("the connection has no credential yet; finish connecting first")]
    NoCredential,

    #[error("the saved credential could not be read: {0}")]
    CorruptCredential(String),

    /// The connection is Disconnected and must be reconnected by a person.
    #[error("reconnect required: {message}")]
    ReconnectRequired {
        message: String,
        provider_message: Option<String>,
    },

    /// Timeouts, 5xx, 429: the connection stays Connected; try again later.
    #[error("the provider's token endpoint is unavailable right now ({detail}); try again later")]
    Transient {
        detail: String,
        retry_after: Option<Duration>,
    },

    /// The provider answered with an OAuth error other than `invalid_grant`.
    #[error("the provider refused the token request: {error}{}", message.as_ref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Provider {
        error: String,
        message: Option<String>,
    },

    /// The token endpoint answered 2xx with something that is not a token.
    #[error("the provider's token endpoint answered something that is not a token ({0})")]
    BadTokenResponse(String),

    #[error("another refresh of this credential is taking too long; try again")]
    Busy,

    #[error("revoking the tokens at the provider failed: {0}")]
    Revoke(String),

    #[error(transparent)]
    Callback(#[from] CallbackError),

    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// Why an authorization callback did not produce a connection. Each message
/// says what happened and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    #[error(
        "The sign-in response has no `state`; it did not come from a sign-in Plugboard started. Start connecting again."
    )]
    MissingState,
    #[error(
        "This sign-in link is not one Plugboard issued (unknown state). Start connecting again."
    )]
    UnknownState,
    #[error(
        "This sign-in was already completed or abandoned (the state was used before). Start connecting again."
    )]
    ReusedState,
    #[error(
        "The sign-in took too long and expired. Start connecting again and finish within a few minutes."
    )]
    ExpiredState,
    #[error(
        "Access was not granted: the sign-in was declined at the provider. Connect again and choose Allow to use this connection."
    )]
    Denied { provider_message: Option<String> },
    #[error("The app needs admin pre-approval at the provider. {PRE_APPROVAL_HELP}")]
    PreApprovalRequired { provider_message: String },
    #[error("The provider reported an error during sign-in: {error}{}. Start connecting again; if it persists, check the app's settings at the provider.", description.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Provider {
        error: String,
        description: Option<String>,
    },
    #[error(
        "The sign-in response says it comes from `{actual}`, but this connection signs in at `{expected}`; it was refused to protect against a mix-up attack. Start connecting again."
    )]
    IssuerMismatch { expected: String, actual: String },
    #[error("The provider redirected back without an authorization code. Start connecting again.")]
    MissingCode,
    #[error("The provider did not accept the authorization code{}. Start connecting again.", provider_message.as_ref().map(|m| format!(": {m}")).unwrap_or_default())]
    ExchangeRefused { provider_message: Option<String> },
    #[error(
        "The provider's token endpoint could not be reached to finish signing in ({detail}). Start connecting again in a moment."
    )]
    ExchangeFailed { detail: String },
    #[error("Plugboard could not finish signing in: {0}")]
    Internal(String),
}

impl CallbackError {
    /// The provider's own words, for the connection's "provider error message".
    pub fn provider_message(&self) -> Option<&str> {
        match self {
            CallbackError::Denied { provider_message }
            | CallbackError::ExchangeRefused { provider_message } => provider_message.as_deref(),
            CallbackError::PreApprovalRequired { provider_message } => Some(provider_message),
            CallbackError::Provider { description, error } => {
                Some(description.as_deref().unwrap_or(error))
            }
            _ => None,
        }
    }
}

/// Whether a provider's message is about admin pre-approval (Zoom).
pub(crate) fn is_pre_approval(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("pre-approv") || m.contains("preapprov") || m.contains("pre approv")
}
