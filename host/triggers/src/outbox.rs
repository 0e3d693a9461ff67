//! The durable event queue (outbox), its delivery states and the
//! scheduler's per-subscription bookkeeping, on the store's pool. The
//! tables are created by the store's migration `0004_triggers_outbox`.
//!
//! This module must never decide *when* to poll or deliver; it only stores.

use std::time::Duration;

use plugboard_store::{Db, OperatorWebhookId, Scope, Store};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::TriggerError;
use crate::poller::PolledEvent;

/// The subscription id of a tenant's operator feed
/// (`connection.disconnected`, `connection.reconnected`, `delivery.dead_letter`).
pub const OPERATOR_FEED: &str = "operator";

/// Prefix of the subscription ids of operator-webhook deliveries.
pub(crate) const OPERATOR_WEBHOOK_PREFIX: &str = "operator-webhook:";

/// The outbox subscription id of one operator webhook's deliveries.
pub fn operator_webhook_feed(id: OperatorWebhookId) -> String {
    format!("{OPERATOR_WEBHOOK_PREFIX}{id}")
}

macro_rules! on_pool {
    ($p:expr, $pool:ident => $body:expr) => {
        match $p {
            Db::Sqlite($pool) => $body,
            Db::Postgres($pool) => $body,
        }
    };
}

/// Delivery state of a queued event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventState {
    /// Waiting for (re)delivery to a webhook.
    Pending,
    /// Delivered (2xx).
    Delivered,
    /// Gave up after the last attempt; replay resets it to pending.
    Dead,
    /// Kept for the pull API (no webhook).
    Pull,
}

impl EventState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
            Self::Pull => "pull",
        }
    }
    fn parse(s: &str) -> Self {
        match s {
            "delivered" => Self::Delivered,
            "dead" => Self::Dead,
            "pull" => Self::Pull,
            _ => Self::Pending,
        }
    }
}

/// A queued event with its delivery record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Position in the outbox (the pull API's cursor).
    pub seq: i64,
    /// Subscription (trigger id, or [`OPERATOR_FEED`]).
    pub subscription: String,
    /// The event id receivers dedupe on.
    pub event_id: String,
    /// Trigger name or operator event type.
    pub kind: String,
    /// Payload.
    pub payload: serde_json::Value,
    /// Webhook URL, `None` for pull.
    pub destination_url: Option<String>,
    /// State.
    pub state: EventState,
    /// Delivery attempts made.
    pub attempts: i64,
    /// Next attempt (ms since epoch).
    pub next_attempt_at: i64,
    /// Last delivery error.
    pub last_error: Option<String>,
    /// Queued at (ms since epoch).
    pub created_at: i64,
    /// Delivered at (ms since epoch).
    pub delivered_at: Option<i64>,
}

type Row = (
    i64,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    i64,
    i64,
    Option<String>,
    i64,
    Option<i64>,
);

/// A [`Row`] followed by org and tenant.
type ClaimedRow = (
    i64,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    i64,
    i64,
    Option<String>,
    i64,
    Option<i64>,
    String,
    String,
);

const COLS: &str = "seq, subscription_id, event_id, kind, payload, destination_url, state, attempts, \
    next_attempt_at, last_error, created_at, delivered_at";

fn from_row(r: Row) -> EventRecord {
    EventRecord {
        seq: r.0,
        subscription: r.1,
        event_id: r.2,
        kind: r.3,
        payload: serde_json::from_str(&r.4).unwrap_or(serde_json::Value::Null),
        destination_url: r.5,
        state: EventState::parse(&r.6),
        attempts: r.7,
        next_attempt_at: r.8,
        last_error: r.9,
        created_at: r.10,
        delivered_at: r.11,
    }
}

/// A webhook event claimed for delivery, with its org and tenant and the
/// `locked_until` value this claim holds.
#[derive(Clone, Debug)]
pub(crate) struct Claimed {
    pub(crate) event: EventRecord,
    pub(crate) org: String,
    pub(crate) tenant: String,
    pub(crate) lock: i64,
}

pub(crate) fn ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The durable queue. Cheap to clone.
#[derive(Clone)]
pub struct Outbox {
    pool: Db,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").finish_non_exhaustive()
    }
}

impl Outbox {
    /// The outbox on the store's database.
    pub fn new(store: &Store) -> Self {
        Self {
            pool: store.pool().clone(),
        }
    }

    /// Queues events of one subscription; an event id already queued for
    /// the subscription is skipped. Returns how many were new.
    pub async fn enqueue(
        &self,
        scope: &Scope,
        subscription: &str,
        kind: &str,
        destination_url: Option<&str>,
        events: &[PolledEvent],
        now: OffsetDateTime,
    ) -> Result<u64, TriggerError> {
        let state = if destination_url.is_some() {
            EventState::Pending
        } else {
            EventState::Pull
        };
        let mut new = 0;
        for e in events {
            let n = on_pool!(&self.pool, p => sqlx::query(
                    "INSERT INTO trigger_events (subscription_id, org_id, tenant_id, event_id, kind, payload, \
                     destination_url, state, attempts, next_attempt_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $9) \
                     ON CONFLICT (subscription_id, event_id) DO NOTHING")
                .bind(subscription)
                .bind(scope.org.to_string())
                .bind(scope.tenant.to_string())
                .bind(&e.id)
                .bind(kind)
                .bind(e.payload.to_string())
                .bind(destination_url)
                .bind(state.as_str())
                .bind(ms(now))
                .execute(p)
                .await
                .map_err(TriggerError::outbox("enqueue"))?
                .rows_affected());
            new += n;
        }
        Ok(new)
    }

    /// Queues an operator event in the tenant's feed ([`OPERATOR_FEED`],
    /// pull) and, with the same event id, for each of its operator webhooks.
    pub(crate) async fn enqueue_operator_event(
        &self,
        store: &Store,
        scope: &Scope,
        kind: &str,
        event: &PolledEvent,
        now: OffsetDateTime,
    ) -> Result<(), TriggerError> {
        let events = std::slice::from_ref(event);
        self.enqueue(scope, OPERATOR_FEED, kind, None, events, now)
            .await?;
        let hooks = store
            .list_operator_webhooks(scope)
            .await
            .map_err(TriggerError::store("list operator webhooks"))?;
        for hook in hooks {
            self.enqueue(
                scope,
                &operator_webhook_feed(hook.id),
                kind,
                Some(&hook.url),
                events,
                now,
            )
            .await?;
        }
        tracing::info!(kind, "operator event");
        Ok(())
    }

    /// Events of a subscription after `since` (exclusive), oldest first.
    pub async fn list(
        &self,
        scope: &Scope,
        subscription: &str,
        since: i64,
        state: Option<EventState>,
        limit: i64,
    ) -> Result<Vec<EventRecord>, TriggerError> {
        let sql = format!(
            "SELECT {COLS} FROM trigger_events WHERE org_id = $1 AND tenant_id = $2 \
             AND subscription_id = $3 AND seq > $4 AND ($5 = '' OR state = $5) ORDER BY seq LIMIT $6"
        );
        let rows: Vec<Row> = on_pool!(&self.pool, p => sqlx::query_as(&sql)
            .bind(scope.org.to_string())
            .bind(scope.tenant.to_string())
            .bind(subscription)
            .bind(since)
            .bind(state.map(|s| s.as_str()).unwrap_or(""))
            .bind(limit)
            .fetch_all(p)
            .await
            .map_err(TriggerError::outbox("list events"))?);
        Ok(rows.into_iter().map(from_row).collect())
    }

    /// Dead letters of the tenant (all subscriptions), oldest first.
    pub async fn dead_letters(&self, scope: &Scope) -> Result<Vec<EventRecord>, TriggerError> {
        let sql = format!(
            "SELECT {COLS} FROM trigger_events WHERE org_id = $1 AND tenant_id = $2 \
             AND state = 'dead' ORDER BY seq"
        );
        let rows: Vec<Row> = on_pool!(&self.pool, p => sqlx::query_as(&sql)
            .bind(scope.org.to_string())
            .bind(scope.tenant.to_string())
            .fetch_all(p)
            .await
            .map_err(TriggerError::outbox("dead letters"))?);
        Ok(rows.into_iter().map(from_row).collect())
    }

    /// Puts dead letters of a subscription (or one event by `seq`) back to
    /// pending with a fresh attempt budget. Returns how many.
    pub async fn replay(
        &self,
        scope: &Scope,
        subscription: &str,
        seq: Option<i64>,
        now: OffsetDateTime,
    ) -> Result<u64, TriggerError> {
        Ok(on_pool!(&self.pool, p => sqlx::query(
                "UPDATE trigger_events SET state = 'pending', attempts = 0, next_attempt_at = $1, locked_until = NULL \
                 WHERE org_id = $2 AND tenant_id = $3 AND subscription_id = $4 AND state = 'dead' \
                 AND ($5 < 0 OR seq = $5)")
            .bind(ms(now))
            .bind(scope.org.to_string())
            .bind(scope.tenant.to_string())
            .bind(subscription)
            .bind(seq.unwrap_or(-1))
            .execute(p)
            .await
            .map_err(TriggerError::outbox("replay"))?
            .rows_affected()))
    }

    /// Deletes a subscription's events and schedule.
    pub async fn forget_subscription(&self, subscription: &str) -> Result<(), TriggerError> {
        on_pool!(&self.pool, p => {
            sqlx::query("DELETE FROM trigger_events WHERE subscription_id = $1")
                .bind(subscription).execute(p).await.map_err(TriggerError::outbox("forget events"))?;
            sqlx::query("DELETE FROM trigger_schedule WHERE trigger_id = $1")
                .bind(subscription).execute(p).await.map_err(TriggerError::outbox("forget schedule"))?;
        });
        Ok(())
    }

    /// Claims up to `limit` webhook events due at `now` until `now + lock`
    /// (other replicas skip them until it passes), in one statement. Each
    /// claim carries the `locked_until` it set, which no later claim of the
    /// same row can repeat (a row is re-claimable only once its lock has
    /// passed, and the new lock lies beyond that): [`Outbox::renew_claim`]
    /// and [`Outbox::record_attempt`] succeed only while it is still held.
    pub(crate) async fn claim_due(
        &self,
        now: OffsetDateTime,
        lock: Duration,
        limit: i64,
    ) -> Result<Vec<Claimed>, TriggerError> {
        let now_ms = ms(now);
        let until = now_ms + lock.as_millis() as i64;
        // The outer conditions repeat the inner ones so that a row another
        // replica claimed meanwhile is re-checked and skipped (PostgreSQL
        // re-evaluates them on the updated row).
        let sql = format!(
            "UPDATE trigger_events SET locked_until = $1 WHERE seq IN (\
             SELECT seq FROM trigger_events WHERE state = 'pending' AND next_attempt_at <= $2 \
             AND (locked_until IS NULL OR locked_until <= $2) ORDER BY next_attempt_at, seq LIMIT $3) \
             AND state = 'pending' AND (locked_until IS NULL OR locked_until <= $2) \
             RETURNING {COLS}, org_id, tenant_id"
        );
        let rows: Vec<ClaimedRow> = on_pool!(&self.pool, p => sqlx::query_as(&sql)
            .bind(until)
            .bind(now_ms)
            .bind(limit)
            .fetch_all(p)
            .await
            .map_err(TriggerError::outbox("claim due events"))?);
        let mut out: Vec<Claimed> = rows
            .into_iter()
            .map(|r| {
                let (org, tenant) = (r.12, r.13);
                let row: Row = (r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7, r.8, r.9, r.10, r.11);
                Claimed {
                    event: from_row(row),
                    org,
                    tenant,
                    lock: until,
                }
            })
            .collect();
        // RETURNING has no order.
        out.sort_by_key(|c| (c.event.next_attempt_at, c.event.seq));
        Ok(out)
    }

    /// Extends a claim still held to `until` (just before sending); `false`
    /// if it was lost (expired and claimed by another replica, or the
    /// event left pending). On success the claim holds `until`.
    pub(crate) async fn renew_claim(
        &self,
        claim: &mut Claimed,
        until: i64,
    ) -> Result<bool, TriggerError> {
        let n = on_pool!(&self.pool, p => sqlx::query(
                "UPDATE trigger_events SET locked_until = $1 WHERE seq = $2 AND locked_until = $3 \
                 AND state = 'pending'")
            .bind(until)
            .bind(claim.event.seq)
            .bind(claim.lock)
            .execute(p)
            .await
            .map_err(TriggerError::outbox("renew claim"))?
            .rows_affected());
        if n == 1 {
            claim.lock = until;
        }
        Ok(n == 1)
    }

    /// Records a delivery outcome if `claim` still holds the event; `false`
    /// (nothing written) if the claim was lost, so a late worker cannot
    /// overwrite the result of the replica that claimed the event after it.
    pub(crate) async fn record_attempt(
        &self,
        claim: &Claimed,
        state: EventState,
        attempts: i64,
        next_attempt_at: i64,
        error: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<bool, TriggerError> {
        let delivered = (state == EventState::Delivered).then(|| ms(now));
        let n = on_pool!(&self.pool, p => sqlx::query(
                "UPDATE trigger_events SET state = $1, attempts = $2, next_attempt_at = $3, last_error = $4, \
                 delivered_at = $5, locked_until = NULL WHERE seq = $6 AND locked_until = $7")
            .bind(state.as_str())
            .bind(attempts)
            .bind(next_attempt_at)
            .bind(error)
            .bind(delivered)
            .bind(claim.event.seq)
            .bind(claim.lock)
            .execute(p)
            .await
            .map_err(TriggerError::outbox("record attempt"))?
            .rows_affected());
        Ok(n == 1)
    }

    /// Every subscription's (last poll, consecutive failures).
    pub(crate) async fn schedules(
        &self,
    ) -> Result<std::collections::HashMap<String, (Option<i64>, i64)>, TriggerError> {
        let rows: Vec<(String, Option<i64>, i64)> = on_pool!(&self.pool, p => sqlx::query_as(
                "SELECT trigger_id, last_polled_at, failures FROM trigger_schedule")
            .fetch_all(p)
            .await
            .map_err(TriggerError::outbox("schedules"))?);
        Ok(rows.into_iter().map(|(a, b, c)| (a, (b, c))).collect())
    }

    /// One subscription's (last poll, consecutive failures).
    pub(crate) async fn schedule(&self, trigger: &str) -> Result<(Option<i64>, i64), TriggerError> {
        let row: Option<(Option<i64>, i64)> = on_pool!(&self.pool, p => sqlx::query_as(
                "SELECT last_polled_at, failures FROM trigger_schedule WHERE trigger_id = $1")
            .bind(trigger)
            .fetch_optional(p)
            .await
            .map_err(TriggerError::outbox("schedule"))?);
        Ok(row.unwrap_or((None, 0)))
    }

    pub(crate) async fn set_schedule(
        &self,
        trigger: &str,
        last_polled_at: i64,
        failures: i64,
    ) -> Result<(), TriggerError> {
        on_pool!(&self.pool, p => sqlx::query(
                "INSERT INTO trigger_schedule (trigger_id, last_polled_at, failures) VALUES ($1, $2, $3) \
                 ON CONFLICT (trigger_id) DO UPDATE SET last_polled_at = excluded.last_polled_at, \
                 failures = excluded.failures")
            .bind(trigger)
            .bind(last_polled_at)
            .bind(failures)
            .execute(p)
            .await
            .map(|_| ())
            .map_err(TriggerError::outbox("set schedule"))?);
        Ok(())
    }

    /// Moves the watched status of a connection from anything but `to` to
    /// `to`; `true` for the one caller that made the change (so the operator
    /// event is emitted once across replicas).
    pub(crate) async fn watch_transition(
        &self,
        connection: &str,
        to: &str,
    ) -> Result<bool, TriggerError> {
        let n = on_pool!(&self.pool, p => sqlx::query(
                "INSERT INTO trigger_connection_watch (connection_id, status) VALUES ($1, $2) \
                 ON CONFLICT (connection_id) DO UPDATE SET status = excluded.status \
                 WHERE trigger_connection_watch.status <> excluded.status")
            .bind(connection)
            .bind(to)
            .execute(p)
            .await
            .map_err(TriggerError::outbox("watch connection"))?
            .rows_affected());
        Ok(n == 1)
    }

    /// The watched status of a connection, if any.
    pub(crate) async fn watched(&self, connection: &str) -> Result<Option<String>, TriggerError> {
        let row: Option<(String,)> = on_pool!(&self.pool, p => sqlx::query_as(
                "SELECT status FROM trigger_connection_watch WHERE connection_id = $1")
            .bind(connection)
            .fetch_optional(p)
            .await
            .map_err(TriggerError::outbox("watched connection"))?);
        Ok(row.map(|r| r.0))
    }
}
