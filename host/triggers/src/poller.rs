//! The one call the scheduler makes per due subscription, behind a trait so
//! the scheduler is testable without wasm. The real implementation (over
//! `plugboard-runtime`) lives in the server, which owns the runtime and the
//! connection services adapter.

use std::time::Duration;

use async_trait::async_trait;
use plugboard_store::{Connection, Trigger};

/// What to poll.
#[derive(Clone, Copy, Debug)]
pub struct PollRequest<'a> {
    /// The subscription's trigger row.
    pub trigger: &'a Trigger,
    /// Its connection (status Connected).
    pub connection: &'a Connection,
    /// The subscription's parameters.
    pub parameters: &'a serde_json::Value,
    /// The connector's cursor from the last successful poll.
    pub cursor: Option<&'a str>,
}

/// One event a poll found.
#[derive(Clone, Debug, PartialEq)]
pub struct PolledEvent {
    /// The connector's id for it (stable across polls: the dedupe key).
    pub id: String,
    /// Payload.
    pub payload: serde_json::Value,
}

/// A successful poll.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PollOutput {
    /// New events, oldest first.
    pub events: Vec<PolledEvent>,
    /// The cursor to save once the events are queued.
    pub cursor: Option<String>,
}

/// Why a poll failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PollError {
    /// The provider refused the credential, the connector asked for a
    /// reconnect, or the credential is unavailable: the connection is marked
    /// Disconnected with `message` and its subscriptions pause.
    #[error("unauthorized: {message}")]
    Unauthorized {
        /// The provider's words.
        message: String,
    },
    /// Rate limited; retry no sooner than `retry_after`.
    #[error("rate limited")]
    RateLimited {
        /// Provider's hint.
        retry_after: Option<Duration>,
    },
    /// Anything else: backoff and retry.
    #[error("{message}")]
    Failed {
        /// Description.
        message: String,
    },
}

/// Polls a connector trigger.
#[async_trait]
pub trait Poller: Send + Sync + 'static {
    /// Calls the connector's `poll(trigger, parameters, cursor)`.
    async fn poll(&self, request: PollRequest<'_>) -> Result<PollOutput, PollError>;
}
