//! The Rust API the server wraps in routes: subscriptions (create, list,
//! pause, resume, delete), the pull feed, deliveries, dead letters, replay,
//! and the references that block deleting a connection. Every call takes
//! the caller's [`Scope`]; another tenant's subscriptions are not found.
//! This module must never return a webhook secret except once, from
//! [`Triggers::create_subscription`].

use std::sync::Arc;

use plugboard_runtime::AddressPolicy;
use plugboard_store::{
    ConnectionId, NewTrigger, OperatorWebhook, OperatorWebhookId, Scope, Store, Trigger, TriggerId,
    UserId,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::destination::check_webhook_url;
use crate::outbox::{EventState, OPERATOR_FEED, operator_webhook_feed};
use crate::{Clock, EventRecord, Outbox, TriggerError};

/// Prefix of generated webhook secrets.
pub const WEBHOOK_SECRET_PREFIX: &str = "whsec_";

/// Name of a subscription's webhook secret among its connection's sealed
/// connector secrets. (A `ConnectionServices` adapter must refuse
/// connector access to names starting with `plugboard.`.)
pub(crate) fn secret_name(id: TriggerId) -> String {
    format!("plugboard.trigger-webhook.{id}")
}

/// A fresh `whsec_…` signing secret.
fn new_webhook_secret() -> String {
    format!(
        "{WEBHOOK_SECRET_PREFIX}{}",
        hex::encode(rand::random::<[u8; 32]>())
    )
}

/// Where events go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Destination {
    /// Signed HTTP POST.
    Webhook {
        /// Receiver URL (http or https).
        url: String,
    },
    /// Kept for [`Triggers::list_events`].
    Pull,
}

impl Destination {
    /// The webhook URL, if any.
    pub fn url(&self) -> Option<&str> {
        match self {
            Self::Webhook { url } => Some(url),
            Self::Pull => None,
        }
    }
}

/// A subscription as the API shows it (no cursor, no secret).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    /// Id.
    pub id: TriggerId,
    /// Tenant.
    pub scope: Scope,
    /// Connection polled through.
    pub connection: ConnectionId,
    /// Connector trigger (`new_recording`).
    pub trigger: String,
    /// Trigger parameters.
    pub parameters: serde_json::Value,
    /// Destination.
    pub destination: Destination,
    /// Not paused by a user. (A subscription of a Disconnected connection
    /// is also paused until reconnect, whatever this says.)
    pub enabled: bool,
    /// Last poll.
    pub last_polled_at: Option<OffsetDateTime>,
    /// Last poll's error.
    pub last_error: Option<String>,
    /// Creator.
    pub created_by: Option<UserId>,
    /// Created.
    pub created_at: OffsetDateTime,
}

impl Subscription {
    pub(crate) fn from_trigger(t: &Trigger) -> Self {
        let parameters = t
            .config
            .get("parameters")
            .cloned()
            .unwrap_or_else(|| serde_json::json!({}));
        let destination = t
            .config
            .get("destination")
            .and_then(|d| serde_json::from_value(d.clone()).ok())
            .unwrap_or(Destination::Pull);
        Self {
            id: t.id,
            scope: t.scope,
            connection: t.connection,
            trigger: t.trigger_name.clone(),
            parameters,
            destination,
            enabled: t.enabled,
            last_polled_at: t.last_polled_at,
            last_error: t.last_error.clone(),
            created_by: t.created_by,
            created_at: t.created_at,
        }
    }
}

/// What [`Triggers::create_subscription`] needs.
#[derive(Clone, Debug, PartialEq)]
pub struct NewSubscription {
    /// Connection (in the caller's tenant).
    pub connection: ConnectionId,
    /// Connector trigger name.
    pub trigger: String,
    /// Parameters passed to every poll.
    pub parameters: serde_json::Value,
    /// Destination.
    pub destination: Destination,
    /// Creator.
    pub created_by: Option<UserId>,
}

/// A new subscription and, for a webhook, its signing secret: shown once.
#[derive(Clone, PartialEq)]
pub struct CreatedSubscription {
    /// The subscription.
    pub subscription: Subscription,
    /// `whsec_…`; not retrievable later.
    pub webhook_secret: Option<String>,
}

impl std::fmt::Debug for CreatedSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedSubscription")
            .field("subscription", &self.subscription)
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// A new operator webhook and its signing secret: shown once.
#[derive(Clone, PartialEq)]
pub struct CreatedOperatorWebhook {
    /// The webhook.
    pub webhook: OperatorWebhook,
    /// `whsec_…`; not retrievable later.
    pub secret: String,
}

impl std::fmt::Debug for CreatedOperatorWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedOperatorWebhook")
            .field("webhook", &self.webhook)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The subscription API. Cheap to clone.
#[derive(Clone)]
pub struct Triggers {
    store: Store,
    outbox: Outbox,
    clock: Arc<dyn Clock>,
    policy: AddressPolicy,
}

impl std::fmt::Debug for Triggers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Triggers").finish_non_exhaustive()
    }
}

fn not_found(id: TriggerId) -> TriggerError {
    TriggerError::NotFound {
        what: "subscription",
        id: id.to_string(),
    }
}

impl Triggers {
    /// The API over `store` and `outbox`; webhook URLs must reach public
    /// addresses (see [`Triggers::with_address_policy`]).
    pub fn new(store: Store, outbox: Outbox, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            outbox,
            clock,
            policy: AddressPolicy::default(),
        }
    }

    /// Which addresses webhook URLs may resolve to: the operator's egress
    /// setting, the same one connectors get.
    pub fn with_address_policy(mut self, policy: AddressPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Creates a subscription (due at once) and, for a webhook, generates
    /// its secret, seals it in the vault and returns it this one time.
    ///
    /// # Errors
    /// [`TriggerError::Invalid`] for a bad URL or empty trigger name,
    /// [`TriggerError::Store`] (not found) for a connection of another tenant.
    pub async fn create_subscription(
        &self,
        scope: &Scope,
        new: NewSubscription,
    ) -> Result<CreatedSubscription, TriggerError> {
        if new.trigger.trim().is_empty() {
            return Err(TriggerError::Invalid {
                what: "trigger",
                reason: "a connector trigger name is required".into(),
            });
        }
        if let Destination::Webhook { url } = &new.destination {
            check_webhook_url(url, &self.policy).await?;
        }
        let conn = self
            .store
            .get_connection(scope, new.connection)
            .await
            .map_err(TriggerError::store("read connection"))?
            .ok_or_else(|| TriggerError::NotFound {
                what: "connection",
                id: new.connection.to_string(),
            })?;
        let config = serde_json::json!({
            "parameters": new.parameters,
            "destination": new.destination,
        });
        let t = self
            .store
            .create_trigger(
                scope,
                NewTrigger {
                    connection: new.connection,
                    trigger_name: new.trigger,
                    config,
                    poll_interval_seconds: conn.polling_frequency_seconds.unwrap_or(300).max(60),
                    created_by: new.created_by,
                },
            )
            .await
            .map_err(TriggerError::store("create subscription"))?;
        let webhook_secret = match &new.destination {
            Destination::Webhook { .. } => {
                let secret = new_webhook_secret();
                if let Err(e) = self
                    .store
                    .put_connector_secret(
                        scope,
                        t.connection,
                        &secret_name(t.id),
                        secret.as_bytes(),
                    )
                    .await
                {
                    let _ = self.store.delete_trigger(scope, t.id).await;
                    return Err(TriggerError::store("seal webhook secret")(e));
                }
                Some(secret)
            }
            Destination::Pull => None,
        };
        Ok(CreatedSubscription {
            subscription: Subscription::from_trigger(&t),
            webhook_secret,
        })
    }

    /// Subscriptions of the tenant, optionally of one connection.
    pub async fn list_subscriptions(
        &self,
        scope: &Scope,
        connection: Option<ConnectionId>,
    ) -> Result<Vec<Subscription>, TriggerError> {
        Ok(self
            .store
            .list_triggers(scope, connection)
            .await
            .map_err(TriggerError::store("list subscriptions"))?
            .iter()
            .map(Subscription::from_trigger)
            .collect())
    }

    /// One subscription.
    pub async fn get_subscription(
        &self,
        scope: &Scope,
        id: TriggerId,
    ) -> Result<Subscription, TriggerError> {
        self.store
            .get_trigger(scope, id)
            .await
            .map_err(TriggerError::store("get subscription"))?
            .map(|t| Subscription::from_trigger(&t))
            .ok_or_else(|| not_found(id))
    }

    /// Pauses (no polls; queued events are still delivered).
    pub async fn pause(&self, scope: &Scope, id: TriggerId) -> Result<Subscription, TriggerError> {
        self.set_enabled(scope, id, false).await
    }

    /// Resumes a paused subscription.
    pub async fn resume(&self, scope: &Scope, id: TriggerId) -> Result<Subscription, TriggerError> {
        self.set_enabled(scope, id, true).await
    }

    async fn set_enabled(
        &self,
        scope: &Scope,
        id: TriggerId,
        on: bool,
    ) -> Result<Subscription, TriggerError> {
        match self.store.set_trigger_enabled(scope, id, on).await {
            Ok(t) => Ok(Subscription::from_trigger(&t)),
            Err(e) if e.is_not_found() => Err(not_found(id)),
            Err(e) => Err(TriggerError::store("pause/resume subscription")(e)),
        }
    }

    /// Deletes a subscription, its secret and its events; `Ok(false)` if absent.
    pub async fn delete_subscription(
        &self,
        scope: &Scope,
        id: TriggerId,
    ) -> Result<bool, TriggerError> {
        let Some(t) = self
            .store
            .get_trigger(scope, id)
            .await
            .map_err(TriggerError::store("get subscription"))?
        else {
            return Ok(false);
        };
        let _ = self
            .store
            .delete_connector_secret(scope, t.connection, &secret_name(id))
            .await;
        let gone = self
            .store
            .delete_trigger(scope, id)
            .await
            .map_err(TriggerError::store("delete subscription"))?;
        self.outbox.forget_subscription(&id.to_string()).await?;
        Ok(gone)
    }

    /// Subscriptions that block deleting `connection` (seed 001: delete only
    /// when nothing references it).
    pub async fn references(
        &self,
        scope: &Scope,
        connection: ConnectionId,
    ) -> Result<Vec<Subscription>, TriggerError> {
        self.list_subscriptions(scope, Some(connection)).await
    }

    /// The pull API: events of a subscription after `since` (a previous
    /// event's `seq`, or 0), oldest first. Works for webhook subscriptions
    /// too (their delivery state is shown).
    pub async fn list_events(
        &self,
        scope: &Scope,
        id: TriggerId,
        since: i64,
        limit: i64,
    ) -> Result<Vec<EventRecord>, TriggerError> {
        self.get_subscription(scope, id).await?;
        self.outbox
            .list(scope, &id.to_string(), since, None, limit.clamp(1, 1000))
            .await
    }

    /// Deliveries of a subscription, optionally in one state.
    pub async fn list_deliveries(
        &self,
        scope: &Scope,
        id: TriggerId,
        state: Option<EventState>,
    ) -> Result<Vec<EventRecord>, TriggerError> {
        self.get_subscription(scope, id).await?;
        self.outbox
            .list(scope, &id.to_string(), 0, state, 10_000)
            .await
    }

    /// Dead letters of the tenant.
    pub async fn list_dead_letters(&self, scope: &Scope) -> Result<Vec<EventRecord>, TriggerError> {
        self.outbox.dead_letters(scope).await
    }

    /// Puts a subscription's dead letters (or the one with `seq`) back in
    /// the queue with a fresh attempt budget; returns how many.
    pub async fn replay(
        &self,
        scope: &Scope,
        id: TriggerId,
        seq: Option<i64>,
    ) -> Result<u64, TriggerError> {
        self.get_subscription(scope, id).await?;
        self.outbox
            .replay(scope, &id.to_string(), seq, self.clock.now())
            .await
    }

    /// The tenant's operator events (`connection.disconnected`,
    /// `connection.reconnected`, `delivery.dead_letter`) after `since`.
    pub async fn list_operator_events(
        &self,
        scope: &Scope,
        since: i64,
        limit: i64,
    ) -> Result<Vec<EventRecord>, TriggerError> {
        self.outbox
            .list(scope, OPERATOR_FEED, since, None, limit.clamp(1, 1000))
            .await
    }

    /// Subscribes `url` to the tenant's operator events (from now on), with
    /// the same URL checks and signature scheme as subscription webhooks;
    /// the secret is returned this one time.
    ///
    /// # Errors
    /// [`TriggerError::Invalid`] / [`TriggerError::RefusedDestination`] for
    /// the URL, [`TriggerError::Store`].
    pub async fn create_operator_webhook(
        &self,
        scope: &Scope,
        url: &str,
        created_by: Option<UserId>,
    ) -> Result<CreatedOperatorWebhook, TriggerError> {
        check_webhook_url(url, &self.policy).await?;
        let secret = new_webhook_secret();
        let webhook = self
            .store
            .create_operator_webhook(scope, url, secret.as_bytes(), created_by)
            .await
            .map_err(TriggerError::store("create operator webhook"))?;
        Ok(CreatedOperatorWebhook { webhook, secret })
    }

    /// The tenant's operator webhooks.
    pub async fn list_operator_webhooks(
        &self,
        scope: &Scope,
    ) -> Result<Vec<OperatorWebhook>, TriggerError> {
        self.store
            .list_operator_webhooks(scope)
            .await
            .map_err(TriggerError::store("list operator webhooks"))
    }

    /// Deletes an operator webhook and its queued deliveries; `Ok(false)`
    /// if absent.
    pub async fn delete_operator_webhook(
        &self,
        scope: &Scope,
        id: OperatorWebhookId,
    ) -> Result<bool, TriggerError> {
        let gone = self
            .store
            .delete_operator_webhook(scope, id)
            .await
            .map_err(TriggerError::store("delete operator webhook"))?;
        if gone {
            self.outbox
                .forget_subscription(&operator_webhook_feed(id))
                .await?;
        }
        Ok(gone)
    }

    /// Deliveries to an operator webhook, optionally in one state.
    pub async fn list_operator_webhook_deliveries(
        &self,
        scope: &Scope,
        id: OperatorWebhookId,
        state: Option<EventState>,
    ) -> Result<Vec<EventRecord>, TriggerError> {
        self.operator_webhook(scope, id).await?;
        self.outbox
            .list(scope, &operator_webhook_feed(id), 0, state, 10_000)
            .await
    }

    /// Puts an operator webhook's dead letters (or the one with `seq`)
    /// back in the queue; returns how many.
    pub async fn replay_operator_webhook(
        &self,
        scope: &Scope,
        id: OperatorWebhookId,
        seq: Option<i64>,
    ) -> Result<u64, TriggerError> {
        self.operator_webhook(scope, id).await?;
        self.outbox
            .replay(scope, &operator_webhook_feed(id), seq, self.clock.now())
            .await
    }

    async fn operator_webhook(
        &self,
        scope: &Scope,
        id: OperatorWebhookId,
    ) -> Result<OperatorWebhook, TriggerError> {
        self.list_operator_webhooks(scope)
            .await?
            .into_iter()
            .find(|w| w.id == id)
            .ok_or_else(|| TriggerError::NotFound {
                what: "operator webhook",
                id: id.to_string(),
            })
    }
}
