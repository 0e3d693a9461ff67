//! The polling scheduler. Every tick it reads the enabled subscriptions,
//! computes each one's due time from its **connection's current polling
//! frequency** (so an edit applies at the next tick), and polls the due
//! ones under a semaphore, each inside the store lease `poll:<trigger id>`
//! so one replica polls a subscription at a time. The events of a poll are
//! queued in the [`Outbox`] before the cursor is saved; a crash in between
//! re-polls from the old cursor and the outbox drops the duplicates.
//!
//! Auth failures mark the connection Disconnected and pause its
//! subscriptions (a subscription of a connection that is not Connected is
//! never polled); the break and the recovery go to the tenant's operator
//! feed once. This module must never talk HTTP or wasm itself.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use plugboard_store::{Connection, ConnectionStatus, Store, Trigger, TriggerId};
use time::OffsetDateTime;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::clock::backoff;
use crate::outbox::ms;
use crate::poller::{PollError, PollRequest, PolledEvent, Poller};
use crate::{Clock, Deliverer, Outbox, TriggerError};

/// Tuning.
#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    /// Time between ticks of [`Scheduler::start`].
    pub tick: Duration,
    /// Polls running at once on this replica.
    pub max_concurrent_polls: usize,
    /// Lease per poll; longer than any poll may take.
    pub lease_ttl: Duration,
    /// Polling frequency when the connection has none (seconds).
    pub default_frequency_seconds: i64,
    /// Lowest frequency honoured (seconds).
    pub min_frequency_seconds: i64,
    /// First retry delay after a failed poll; doubles per failure.
    pub base_backoff: Duration,
    /// Retry delay cap.
    pub max_backoff: Duration,
    /// This replica's name in leases.
    pub replica: String,
    /// Most subscriptions read per tick.
    pub batch_limit: i64,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            tick: Duration::from_secs(5),
            max_concurrent_polls: 32,
            lease_ttl: Duration::from_secs(120),
            default_frequency_seconds: 300,
            min_frequency_seconds: 60,
            base_backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(3600),
            replica: format!("replica-{}", uuid::Uuid::new_v4()),
            batch_limit: 100_000,
        }
    }
}

/// A test hook run after a poll's events are queued and before its cursor
/// is saved; returning `true` abandons the poll there (a simulated crash).
pub type Failpoint = Arc<dyn Fn(TriggerId) -> bool + Send + Sync>;

/// What one tick did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Subscriptions considered.
    pub considered: usize,
    /// Polls that ran (success or failure).
    pub polled: usize,
    /// Polls that failed.
    pub failed: usize,
    /// New events queued.
    pub queued: u64,
    /// Skipped: lease held elsewhere or already polled by another replica.
    pub lost_race: usize,
    /// Skipped: connection not Connected.
    pub paused_by_connection: usize,
}

/// The connection's polling frequency clamped to the minimum (seconds).
pub fn effective_frequency(connection: &Connection, cfg: &SchedulerConfig) -> i64 {
    connection
        .polling_frequency_seconds
        .unwrap_or(cfg.default_frequency_seconds)
        .max(cfg.min_frequency_seconds)
}

/// A stable per-subscription offset in `[0, frequency / 10)` seconds (at
/// most 30 s), so subscriptions created together spread out.
pub fn jitter_seconds(trigger: TriggerId, frequency: i64) -> i64 {
    let span = (frequency / 10).clamp(0, 30);
    if span == 0 {
        return 0;
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    trigger.hash(&mut h);
    (h.finish() % span as u64) as i64
}

/// The scheduler. Share it in an `Arc`.
pub struct Scheduler {
    store: Store,
    outbox: Outbox,
    poller: Arc<dyn Poller>,
    clock: Arc<dyn Clock>,
    cfg: SchedulerConfig,
    permits: Arc<Semaphore>,
    failpoint: Option<Failpoint>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

/// Stops a started scheduler.
#[derive(Debug)]
pub struct SchedulerHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl SchedulerHandle {
    /// Stops after the current tick and waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

enum Due {
    Now,
    Later,
}

impl Scheduler {
    /// A scheduler over `store` and `outbox`, polling through `poller`.
    pub fn new(
        store: Store,
        outbox: Outbox,
        poller: Arc<dyn Poller>,
        clock: Arc<dyn Clock>,
        cfg: SchedulerConfig,
    ) -> Self {
        let permits = Arc::new(Semaphore::new(cfg.max_concurrent_polls.max(1)));
        Self {
            store,
            outbox,
            poller,
            clock,
            cfg,
            permits,
            failpoint: None,
        }
    }

    /// Installs a failpoint (tests).
    pub fn with_failpoint(mut self, failpoint: Failpoint) -> Self {
        self.failpoint = Some(failpoint);
        self
    }

    /// Waits [`SchedulerConfig::tick`], then runs a tick and the deliverer,
    /// and again, until [`SchedulerHandle::stop`].
    pub fn start(self: Arc<Self>, deliverer: Option<Arc<Deliverer>>) -> SchedulerHandle {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(self.cfg.tick) => {}
                    _ = stopped.changed() => break,
                }
                if let Err(e) = self.tick().await {
                    tracing::warn!(error = %e, "trigger scheduler tick failed");
                }
                if let Some(d) = &deliverer
                    && let Err(e) = d.deliver_due().await
                {
                    tracing::warn!(error = %e, "trigger delivery pass failed");
                }
            }
        });
        SchedulerHandle { stop, task }
    }

    fn due(
        &self,
        t: &Trigger,
        freq: i64,
        schedule: (Option<i64>, i64),
        now: OffsetDateTime,
    ) -> Due {
        let now_ms = ms(now);
        let due_at = match schedule {
            // Never polled: due at once (the store stamps creation with its
            // own clock, which need not be ours).
            (None, _) => now_ms,
            // Failing: the backoff the last poll stored.
            (Some(_), f) if f > 0 => ms(t.next_poll_at),
            // Healthy: last poll + the connection's frequency *now* + jitter.
            (Some(last), _) => last + (freq + jitter_seconds(t.id, freq)) * 1000,
        };
        if due_at <= now_ms {
            Due::Now
        } else {
            Due::Later
        }
    }

    /// One tick: polls every due subscription (bounded by the semaphore)
    /// and returns when they are done.
    ///
    /// # Errors
    /// Reading subscriptions or schedules failed; a failing poll is not an
    /// error of the tick.
    pub async fn tick(self: &Arc<Self>) -> Result<TickReport, TriggerError> {
        let now = self.clock.now();
        let horizon = now + Duration::from_secs(400 * 24 * 3600);
        // Every enabled subscription: the due time depends on the connection.
        // (Store wish: a due query joined with connections' frequency.)
        let triggers = self
            .store
            .due_triggers(horizon, self.cfg.batch_limit)
            .await
            .map_err(TriggerError::store("read subscriptions"))?;
        let schedules = self.outbox.schedules().await?;
        let mut connections: HashMap<plugboard_store::ConnectionId, Option<Connection>> =
            HashMap::new();
        let mut report = TickReport {
            considered: triggers.len(),
            ..TickReport::default()
        };
        let mut polls = JoinSet::new();
        for t in triggers {
            if let std::collections::hash_map::Entry::Vacant(slot) = connections.entry(t.connection)
            {
                let c = self
                    .store
                    .get_connection(&t.scope, t.connection)
                    .await
                    .map_err(TriggerError::store("read connection"))?;
                if let Some(c) = &c {
                    self.watch_connection(c).await?;
                }
                slot.insert(c);
            }
            let Some(Some(conn)) = connections.get(&t.connection) else {
                continue;
            };
            if conn.status != ConnectionStatus::Connected {
                report.paused_by_connection += 1;
                continue;
            }
            let freq = effective_frequency(conn, &self.cfg);
            let sched = schedules
                .get(&t.id.to_string())
                .copied()
                .unwrap_or((None, 0));
            if let Due::Later = self.due(&t, freq, sched, now) {
                continue;
            }
            let this = Arc::clone(self);
            let conn = conn.clone();
            polls.spawn(async move {
                let _permit = this.permits.clone().acquire_owned().await;
                this.poll_one(t, conn, now).await
            });
        }
        while let Some(r) = polls.join_next().await {
            match r {
                Ok(Ok(Some(o))) => {
                    report.polled += 1;
                    match o {
                        Ok(n) => report.queued += n,
                        Err(()) => report.failed += 1,
                    }
                }
                Ok(Ok(None)) => report.lost_race += 1,
                Ok(Err(e)) => {
                    report.failed += 1;
                    tracing::warn!(error = %e, "trigger poll bookkeeping failed");
                }
                Err(e) => {
                    report.failed += 1;
                    tracing::error!(error = %e, "trigger poll task panicked");
                }
            }
        }
        Ok(report)
    }

    /// `None` when another replica had it; `Some(Ok(new events))` or
    /// `Some(Err(()))` for a failed poll.
    async fn poll_one(
        &self,
        candidate: Trigger,
        conn: Connection,
        now: OffsetDateTime,
    ) -> Result<Option<Result<u64, ()>>, TriggerError> {
        let lease = format!("poll:{}", candidate.id);
        let got = self
            .store
            .acquire_lease(&lease, &self.cfg.replica, self.cfg.lease_ttl)
            .await
            .map_err(TriggerError::store("acquire poll lease"))?;
        if !got {
            return Ok(None);
        }
        let r = self.poll_leased(candidate, conn, now).await;
        let _ = self.store.release_lease(&lease, &self.cfg.replica).await;
        r
    }

    async fn poll_leased(
        &self,
        candidate: Trigger,
        conn: Connection,
        now: OffsetDateTime,
    ) -> Result<Option<Result<u64, ()>>, TriggerError> {
        // Re-read under the lease: another replica may have just polled it.
        let Some(t) = self
            .store
            .get_trigger(&candidate.scope, candidate.id)
            .await
            .map_err(TriggerError::store("re-read subscription"))?
        else {
            return Ok(None);
        };
        let id = t.id.to_string();
        let sched = self.outbox.schedule(&id).await?;
        let freq = effective_frequency(&conn, &self.cfg);
        if !t.enabled || matches!(self.due(&t, freq, sched, now), Due::Later) {
            return Ok(None);
        }
        let sub = crate::api::Subscription::from_trigger(&t);
        let request = PollRequest {
            trigger: &t,
            connection: &conn,
            parameters: &sub.parameters,
            cursor: t.cursor.as_deref(),
        };
        match self.poller.poll(request).await {
            Ok(out) => {
                let url = sub.destination.url();
                let n = self
                    .outbox
                    .enqueue(&t.scope, &id, &t.trigger_name, url, &out.events, now)
                    .await?;
                if let Some(fp) = &self.failpoint
                    && fp(t.id)
                {
                    return Ok(Some(Ok(n)));
                }
                // Schedule first, then cursor: see the module doc.
                self.outbox.set_schedule(&id, ms(now), 0).await?;
                let next = now + Duration::from_secs((freq + jitter_seconds(t.id, freq)) as u64);
                self.record(&t, out.cursor.as_deref(), next, None).await?;
                Ok(Some(Ok(n)))
            }
            Err(PollError::Unauthorized { message }) => {
                self.disconnect(&conn, &message, now).await?;
                self.outbox.set_schedule(&id, ms(now), 0).await?;
                let next = now + Duration::from_secs(freq as u64);
                let err = format!("unauthorized: {message}");
                self.record(&t, t.cursor.as_deref(), next, Some(&err))
                    .await?;
                Ok(Some(Err(())))
            }
            Err(e) => {
                let failures = sched.1 + 1;
                let mut delay = backoff(self.cfg.base_backoff, self.cfg.max_backoff, failures);
                if let PollError::RateLimited {
                    retry_after: Some(r),
                } = &e
                {
                    delay = delay.max(*r);
                }
                self.outbox.set_schedule(&id, ms(now), failures).await?;
                self.record(&t, t.cursor.as_deref(), now + delay, Some(&e.to_string()))
                    .await?;
                Ok(Some(Err(())))
            }
        }
    }

    async fn record(
        &self,
        t: &Trigger,
        cursor: Option<&str>,
        next: OffsetDateTime,
        error: Option<&str>,
    ) -> Result<(), TriggerError> {
        match self
            .store
            .record_trigger_poll(&t.scope, t.id, t.version, cursor, next, error)
            .await
        {
            Ok(_) => Ok(()),
            // Paused/resumed meanwhile (version bump): the events are queued;
            // the next poll repeats from the old cursor and dedupes.
            Err(e) if e.is_conflict() || e.is_not_found() => Ok(()),
            Err(e) => Err(TriggerError::store("save cursor")(e)),
        }
    }

    async fn disconnect(
        &self,
        conn: &Connection,
        message: &str,
        now: OffsetDateTime,
    ) -> Result<(), TriggerError> {
        let c = self
            .store
            .set_connection_status(
                &conn.scope,
                conn.id,
                ConnectionStatus::Disconnected,
                Some(
                    "reconnect required: the provider refused the credential during a trigger poll",
                ),
                Some(message),
            )
            .await
            .map_err(TriggerError::store("mark connection disconnected"))?;
        self.emit_transition(&c, now).await
    }

    /// Emits `connection.disconnected` / `connection.reconnected` once per
    /// change of the connection's status as seen by the scheduler.
    async fn watch_connection(&self, conn: &Connection) -> Result<(), TriggerError> {
        self.emit_transition(conn, self.clock.now()).await
    }

    async fn emit_transition(
        &self,
        conn: &Connection,
        now: OffsetDateTime,
    ) -> Result<(), TriggerError> {
        let key = conn.id.to_string();
        let watched = self.outbox.watched(&key).await?;
        let (to, kind) = match conn.status {
            ConnectionStatus::Connected if watched.as_deref() == Some("disconnected") => {
                ("connected", "connection.reconnected")
            }
            ConnectionStatus::Disconnected if watched.as_deref() != Some("disconnected") => {
                ("disconnected", "connection.disconnected")
            }
            _ => return Ok(()),
        };
        if !self.outbox.watch_transition(&key, to).await? {
            return Ok(());
        }
        let event = PolledEvent {
            id: uuid::Uuid::now_v7().to_string(),
            payload: serde_json::json!({
                "connection": conn.id,
                "connector": conn.connector,
                "name": conn.name,
                "status": conn.status,
                "message": conn.status_message,
                "provider_error": conn.provider_error,
            }),
        };
        self.outbox
            .enqueue_operator_event(&self.store, &conn.scope, kind, &event, now)
            .await
    }
}
