//! Webhook delivery: POST the event as JSON, signed with HMAC-SHA256 over
//! `<unix timestamp>.<body>` in `Plugboard-Signature: t=<ts>,v1=<hex>`,
//! at least once, with exponential backoff, then dead letter. The secret is
//! read from the vault per attempt and dropped after signing; it must never
//! be logged.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use plugboard_store::{OrganizationId, Scope, Store, TenantId, TriggerId};
use sha2::Sha256;

use crate::outbox::{EventState, ms};
use crate::{Clock, Outbox, TriggerError};

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
    /// Per-request timeout (also the claim lock).
    pub timeout: Duration,
    /// Events per pass.
    pub batch: i64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base_backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(3600),
            timeout: Duration::from_secs(15),
            batch: 200,
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
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("reqwest client builds");
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
    /// # Errors
    /// Reading or writing the outbox failed.
    pub async fn deliver_due(&self) -> Result<DeliveryReport, TriggerError> {
        let now = self.clock.now();
        let claimed = self
            .outbox
            .claim_due(now, self.cfg.timeout * 2, self.cfg.batch)
            .await?;
        let mut report = DeliveryReport::default();
        for (event, org, tenant) in claimed {
            let outcome = self.attempt(&event, &org, &tenant, now).await;
            let attempts = event.attempts + 1;
            match outcome {
                Ok(()) => {
                    report.delivered += 1;
                    self.outbox
                        .record_attempt(
                            event.seq,
                            EventState::Delivered,
                            attempts,
                            ms(now),
                            None,
                            now,
                        )
                        .await?;
                }
                Err(err) if attempts >= self.cfg.max_attempts => {
                    report.dead += 1;
                    self.outbox
                        .record_attempt(
                            event.seq,
                            EventState::Dead,
                            attempts,
                            ms(now),
                            Some(&err),
                            now,
                        )
                        .await?;
                }
                Err(err) => {
                    report.retrying += 1;
                    let delay = self
                        .cfg
                        .base_backoff
                        .saturating_mul(1u32 << (attempts - 1).clamp(0, 20) as u32)
                        .min(self.cfg.max_backoff);
                    self.outbox
                        .record_attempt(
                            event.seq,
                            EventState::Pending,
                            attempts,
                            ms(now + delay),
                            Some(&err),
                            now,
                        )
                        .await?;
                }
            }
        }
        Ok(report)
    }

    async fn attempt(
        &self,
        event: &crate::EventRecord,
        org: &str,
        tenant: &str,
        now: time::OffsetDateTime,
    ) -> Result<(), String> {
        let url = event.destination_url.as_deref().ok_or("no destination")?;
        let scope = Scope::new(
            OrganizationId(org.parse().map_err(|_| "bad org id")?),
            TenantId(tenant.parse().map_err(|_| "bad tenant id")?),
        );
        let trigger: TriggerId = event
            .subscription
            .parse()
            .map_err(|_| "operator feed has no webhook")?;
        let t = self
            .store
            .get_trigger(&scope, trigger)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("subscription deleted")?;
        let secret = self
            .store
            .get_connector_secret(&scope, t.connection, &crate::api::secret_name(trigger))
            .await
            .map_err(|e| e.to_string())?
            .ok_or("webhook secret missing")?;
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
            .map_err(|e| format!("request failed: {e}"))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("receiver answered {}", resp.status()))
        }
    }
}
