//! The crate's one error type; variants name the step.

use plugboard_store::StoreError;

/// What can go wrong in triggers.
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    /// A store call failed.
    #[error("triggers: {step}: {source}")]
    Store {
        /// Which step.
        step: &'static str,
        /// Store error.
        #[source]
        source: StoreError,
    },
    /// An outbox query failed.
    #[error("trigger outbox: `{step}` failed: {source}")]
    Outbox {
        /// Which step.
        step: &'static str,
        /// Driver error.
        #[source]
        source: sqlx::Error,
    },
    /// Bad input from the caller.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A webhook URL the egress policy refuses (scheme, credentials in the
    /// URL, or an address that is not public).
    #[error("webhook URL `{url}` refused: {reason}")]
    RefusedDestination {
        /// The URL, without any userinfo.
        url: String,
        /// Why, and what the operator can allow.
        reason: String,
    },
    /// Not found in this tenant.
    #[error("{what} `{id}` not found")]
    NotFound {
        /// What.
        what: &'static str,
        /// Which.
        id: String,
    },
}

impl TriggerError {
    pub(crate) fn store(step: &'static str) -> impl FnOnce(StoreError) -> Self {
        move |source| Self::Store { step, source }
    }
    pub(crate) fn outbox(step: &'static str) -> impl FnOnce(sqlx::Error) -> Self {
        move |source| Self::Outbox { step, source }
    }
}
