//! Webhook delivery: POST the event as JSON, signed with HMAC-SHA256 over
//! `<unix timestamp>.<body>` in `Plugboard-Signature: t=<ts>,v1=<hex>`,
//! at least once, with exponential backoff, then dead letter. The secret is
//! read from the vault per attempt and dropped after signing; it must never
//! be logged. The URL is checked against the egress address policy again
//! at every attempt, after DNS (see `destination`). An event that becomes a
//! dead letter is announced as the operator event `delivery.dead_letter`
//! (except operator-webhook deliveries themselves, which would loop).

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use plugboard_runtime::AddressPolicy;
use plugboard_store::{OperatorWebhookId, OrganizationId, Scope, SecretBytes, Store, TenantId};
use sha2::Sha256;

use crate::clock::backoff;
use crate::destination::{check_before_send, delivery_client};
use crate::outbox::{EventState, OPERATOR_WEBHOOK_PREFIX, ms};
use crate::poller::PolledEvent;
use crate::{Clock, EventRecord, Outbox, TriggerError};

/// Signs `body` sent at `timestamp` (unix seconds) with `secret`: the value
/// of the `Plugboard-Signature` header.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("hmac takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// Checks a `Plugboard-Signature` header (constant time); what a receiver
/// does. Does not check the timestamp's age (the receiver's policy).
pub fn verify(secret: &[u8], header: &str, body: &[u8]) -> bool {
    let mut ts = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => ts = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (Some(ts), Some(v1)) = (ts, v1) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("hmac takes any key length");
    mac.update(ts.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&v1).is_ok()
}

/// Delivery tuning.
#[derive(Clone, Debug)]
pub struct DeliveryConfig {
    /// Attempts before dead letter.
    pub max_attempts: i64,
    /// Delay after the first failure; doubles per attempt.
    pub base_backoff: Duration,
    /// Delay cap.
    pub max_backoff: Duration,
    /// Per-request timeout; an event's claim lasts twice this from just
    /// before it is sent.
    pub timeout: Duration,
    /// Events per pass.
    pub batch: i64,
    /// Addresses receivers may have (the operator's egress setting);
    /// default: public only.
    pub address_policy: AddressPolicy,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base_backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(3600),
            timeout: Duration::from_secs(15),
            batch: 200,
            address_policy: AddressPolicy::default(),
        }
    }
}

/// What one delivery pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Delivered (2xx).
    pub delivered: usize,
    /// Failed, will retry.
    pub retrying: usize,
    /// Failed for the last time.
    pub dead: usize,
}

/// Delivers queued webhook events.
pub struct Deliverer {
    store: Store,
    outbox: Outbox,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
    cfg: DeliveryConfig,
}

impl std::fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliverer")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl Deliverer {
    /// A deliverer.
    pub fn new(store: Store, outbox: Outbox, clock: Arc<dyn Clock>, cfg: DeliveryConfig) -> Self {
        let http = delivery_client(cfg.address_policy, cfg.timeout);
        Self {
            store,
            outbox,
            clock,
            http,
            cfg,
        }
    }

    /// Attempts every webhook event due now, once.
    ///
    /// The batch is claimed for `timeout * 2`; each event's claim is renewed
    /// to `timeout * 2` from the moment just before it is sent, so an event
    /// far down a batch of slow receivers is either still ours (renewed) or
    /// was taken over by another replica (renewal fails, skipped). The
    /// outcome is written only while the claim is held.
    ///
    /// # Errors
    /// Reading or writing the outbox failed.
    pub async fn deliver_due(&self) -> Result<DeliveryReport, TriggerError> {
        let lock = self.cfg.timeout * 2;
        let claimed = self
            .outbox
            .claim_due(self.clock.now(), lock, self.cfg.batch)
            .await?;
        let mut report = DeliveryReport::default();
        for mut claim in claimed {
            let now = self.clock.now();
            if !self.outbox.renew_claim(&mut claim, ms(now + lock)).await? {
                tracing::info!(seq = claim.event.seq, "delivery claim lost before sending");
                continue;
            }
            let event = &claim.event;
            let outcome = self.attempt(event, &claim.org, &claim.tenant, now).await;
            let attempts = event.attempts + 1;
            let (state, next, counter) = match &outcome {
                Ok(()) => (EventState::Delivered, ms(now), &mut report.delivered),
                Err(_) if attempts >= self.cfg.max_attempts => {
                    (EventState::Dead, ms(now), &mut report.dead)
                }
                Err(_) => {
                    let delay = backoff(self.cfg.base_backoff, self.cfg.max_backoff, attempts);
                    (EventState::Pending, ms(now + delay), &mut report.retrying)
                }
            };
            let error = outcome.as_ref().err().map(String::as_str);
            let won = self
                .outbox
                .record_attempt(&claim, state, attempts, next, error, now)
                .await?;
            if !won {
                // Another replica claimed the event after ours expired; its
                // result stands.
                tracing::warn!(
                    seq = event.seq,
                    "delivery claim lost while sending; outcome not recorded"
                );
                continue;
            }
            *counter += 1;
            if let (EventState::Dead, Some(err)) = (state, error) {
                self.announce_dead_letter(event, &claim.org, &claim.tenant, err, now)
                    .await?;
            }
        }
        Ok(report)
    }

    async fn announce_dead_letter(
        &self,
        event: &EventRecord,
        org: &str,
        tenant: &str,
        error: &str,
        now: time::OffsetDateTime,
    ) -> Result<(), TriggerError> {
        if event.subscription.starts_with(OPERATOR_WEBHOOK_PREFIX) {
            return Ok(());
        }
        let Ok(scope) = scope_of(org, tenant) else {
            return Ok(());
        };
        let announcement = PolledEvent {
            id: format!("dead-letter:{}:{}", event.subscription, event.seq),
            payload: serde_json::json!({
                "subscription": event.subscription,
                "seq": event.seq,
                "event_id": event.event_id,
                "type": event.kind,
                "attempts": event.attempts + 1,
                "error": error,
            }),
        };
        self.outbox
            .enqueue_operator_event(
                &self.store,
                &scope,
                "delivery.dead_letter",
                &announcement,
                now,
            )
            .await
    }

    /// The signing secret of the subscription or operator webhook the
    /// event belongs to.
    async fn secret_for(&self, scope: &Scope, subscription: &str) -> Result<SecretBytes, String> {
        let found = if let Some(hook) = subscription.strip_prefix(OPERATOR_WEBHOOK_PREFIX) {
            let id: OperatorWebhookId = hook.parse().map_err(|_| "bad operator webhook id")?;
            self.store
                .operator_webhook_secret(scope, id)
                .await
                .map_err(|e| e.to_string())?
        } else {
            let id = subscription
                .parse()
                .map_err(|_| "the operator feed has no webhook")?;
            let t = self
                .store
                .get_trigger(scope, id)
                .await
                .map_err(|e| e.to_string())?
                .ok_or("subscription deleted")?;
            self.store
                .get_connector_secret(scope, t.connection, &crate::api::secret_name(id))
                .await
                .map_err(|e| e.to_string())?
        };
        found.ok_or_else(|| "webhook secret missing".to_owned())
    }

    async fn attempt(
        &self,
        event: &EventRecord,
        org: &str,
        tenant: &str,
        now: time::OffsetDateTime,
    ) -> Result<(), String> {
        let url = event.destination_url.as_deref().ok_or("no destination")?;
        let url = check_before_send(url, &self.cfg.address_policy).map_err(|e| e.to_string())?;
        let scope = scope_of(org, tenant)?;
        let secret = self.secret_for(&scope, &event.subscription).await?;
        let body = serde_json::to_vec(&serde_json::json!({
            "id": event.event_id,
            "subscription": event.subscription,
            "type": event.kind,
            "created_at": event.created_at,
            "data": event.payload,
        }))
        .map_err(|e| e.to_string())?;
        let signature = sign(secret.expose(), now.unix_timestamp(), &body);
        drop(secret);
        let resp = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("plugboard-event-id", &event.event_id)
            .header("plugboard-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| format!("request failed: {}", error_chain(&e)))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("receiver answered {}", resp.status()))
        }
    }
}

fn scope_of(org: &str, tenant: &str) -> Result<Scope, String> {
    Ok(Scope::new(
        OrganizationId(org.parse().map_err(|_| "bad org id")?),
        TenantId(tenant.parse().map_err(|_| "bad tenant id")?),
    ))
}

/// The error with its causes (reqwest hides "address refused" in a source).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cur = c.source();
    }
    out
}
