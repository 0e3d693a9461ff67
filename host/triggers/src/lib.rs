//! Trigger subscriptions for Plugboard: a subscription is a store trigger
//! row (connection + connector trigger + parameters + destination), polled by
//! the [`Scheduler`] on its connection's polling frequency; the events of a
//! poll go into the durable [`Outbox`] *before* the cursor is saved, and the
//! [`Deliverer`] posts them to signed webhooks (at least once, then dead
//! letter) or keeps them for the pull API. Operator events (a connection
//! broken or recovered, a dead letter) go to the tenant's operator feed and
//! to its operator webhooks. Webhook URLs obey the egress address policy
//! at creation and again at each delivery ([`check_webhook_url`]).
//!
//! This crate must never call a connector directly (it goes through the
//! [`Poller`] trait) and never hold a webhook secret longer than one
//! signature.
#![deny(missing_docs)]

mod api;
mod clock;
mod delivery;
mod destination;
mod error;
mod outbox;
mod poller;
mod runtime_poller;
mod scheduler;

pub use api::{
    CreatedOperatorWebhook, CreatedSubscription, Destination, NewSubscription, Subscription,
    Triggers, WEBHOOK_SECRET_PREFIX,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use delivery::{Deliverer, DeliveryConfig, DeliveryReport, sign, verify};
pub use destination::check_webhook_url;
pub use error::TriggerError;
pub use outbox::{EventRecord, EventState, OPERATOR_FEED, Outbox, operator_webhook_feed};
pub use poller::{PollError, PollOutput, PollRequest, PolledEvent, Poller};
pub use runtime_poller::{ConnectorLookup, RuntimePoller, ServicesFactory, TokenManagerServices};
pub use scheduler::{
    Failpoint, Scheduler, SchedulerConfig, SchedulerHandle, TickReport, effective_frequency,
    jitter_seconds,
};
