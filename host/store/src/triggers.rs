//! Triggers: polling subscriptions of a connection with their cursor and
//! schedule. Advancing a cursor is a compare-and-swap on the trigger's
//! version, so two replicas polling the same trigger cannot both advance it
//! (take the lease `poll:<trigger id>` as well, to avoid the double call).
//! This module must never call a connector; the scheduler does.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::db::{from_ms, now_ms, on_db, to_ms};
use crate::{ConnectionId, Scope, Store, StoreError, TriggerId, UserId};

/// A trigger.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trigger {
    /// Id.
    pub id: TriggerId,
    /// Tenant.
    pub scope: Scope,
    /// Connection it polls through.
    pub connection: ConnectionId,
    /// Trigger name from the connector manifest.
    pub trigger_name: String,
    /// Non-secret configuration.
    pub config: serde_json::Value,
    /// Seconds between polls.
    pub poll_interval_seconds: i64,
    /// Whether it is polled.
    pub enabled: bool,
    /// The connector's opaque cursor.
    pub cursor: Option<String>,
    /// When it is next due.
    pub next_poll_at: OffsetDateTime,
    /// Last poll.
    pub last_polled_at: Option<OffsetDateTime>,
    /// Last poll's error.
    pub last_error: Option<String>,
    /// Creator.
    pub created_by: Option<UserId>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
    /// Version for [`Store::record_trigger_poll`].
    pub version: i64,
}

/// What [`Store::create_trigger`] needs.
#[derive(Clone, Debug, PartialEq)]
pub struct NewTrigger {
    /// Connection (must be in the tenant).
    pub connection: ConnectionId,
    /// Trigger name.
    pub trigger_name: String,
    /// Configuration.
    pub config: serde_json::Value,
    /// Seconds between polls (positive).
    pub poll_interval_seconds: i64,
    /// Creator.
    pub created_by: Option<UserId>,
}

#[derive(sqlx::FromRow)]
struct TriggerRow {
    id: Uuid,
    org_id: Uuid,
    tenant_id: Uuid,
    connection_id: Uuid,
    trigger_name: String,
    config: String,
    poll_interval_seconds: i64,
    enabled: bool,
    cursor: Option<String>,
    next_poll_at: i64,
    last_polled_at: Option<i64>,
    last_error: Option<String>,
    created_by: Option<Uuid>,
    created_at: i64,
    updated_at: i64,
    version: i64,
}

impl TriggerRow {
    fn into_trigger(self) -> Result<Trigger, StoreError> {
        Ok(Trigger {
            id: self.id.into(),
            scope: Scope::new(self.org_id.into(), self.tenant_id.into()),
            connection: self.connection_id.into(),
            trigger_name: self.trigger_name,
            config: serde_json::from_str(&self.config).map_err(|e| StoreError::Corrupt {
                what: "trigger config",
                detail: e.to_string(),
            })?,
            poll_interval_seconds: self.poll_interval_seconds,
            enabled: self.enabled,
            cursor: self.cursor,
            next_poll_at: from_ms(self.next_poll_at),
            last_polled_at: self.last_polled_at.map(from_ms),
            last_error: self.last_error,
            created_by: self.created_by.map(Into::into),
            created_at: from_ms(self.created_at),
            updated_at: from_ms(self.updated_at),
            version: self.version,
        })
    }
}

const COLUMNS: &str = "id, org_id, tenant_id, connection_id, trigger_name, config, poll_interval_seconds, \
    enabled, cursor, next_poll_at, last_polled_at, last_error, created_by, created_at, updated_at, version";

fn not_found(id: TriggerId) -> StoreError {
    StoreError::NotFound {
        what: "trigger",
        id: id.to_string(),
    }
}

impl Store {
    /// Creates a trigger, due at once.
    pub async fn create_trigger(
        &self,
        scope: &Scope,
        new: NewTrigger,
    ) -> Result<Trigger, StoreError> {
        if new.poll_interval_seconds <= 0 {
            return Err(StoreError::Invalid {
                what: "poll interval",
                reason: format!("{} seconds; it must be positive", new.poll_interval_seconds),
            });
        }
        let id = TriggerId::new();
        let at = now_ms();
        let n = on_db!(self.db(), pool => sqlx::query(
                "INSERT INTO triggers (id, org_id, tenant_id, connection_id, trigger_name, config, \
                 poll_interval_seconds, enabled, cursor, next_poll_at, created_by, created_at, updated_at, version) \
                 SELECT $1, org_id, tenant_id, id, $2, $3, $4, TRUE, NULL, $5, $6, $5, $5, 1 FROM connections \
                 WHERE id = $7 AND org_id = $8 AND tenant_id = $9")
            .bind(id)
            .bind(&new.trigger_name)
            .bind(new.config.to_string())
            .bind(new.poll_interval_seconds)
            .bind(at)
            .bind(new.created_by)
            .bind(new.connection)
            .bind(scope.org)
            .bind(scope.tenant)
            .execute(pool)
            .await
            .map_err(StoreError::query("create trigger"))?
            .rows_affected());
        if n == 0 {
            return Err(StoreError::NotFound {
                what: "connection",
                id: new.connection.to_string(),
            });
        }
        self.get_trigger(scope, id)
            .await?
            .ok_or_else(|| not_found(id))
    }

    /// A trigger of the tenant.
    pub async fn get_trigger(
        &self,
        scope: &Scope,
        id: TriggerId,
    ) -> Result<Option<Trigger>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM triggers WHERE id = $1 AND org_id = $2 AND tenant_id = $3"
        );
        let row: Option<TriggerRow> = on_db!(self.db(), pool => sqlx::query_as(&sql)
            .bind(id)
            .bind(scope.org)
            .bind(scope.tenant)
            .fetch_optional(pool)
            .await
            .map_err(StoreError::query("get trigger"))?);
        row.map(TriggerRow::into_trigger).transpose()
    }

    /// Triggers of the tenant, optionally of one connection.
    pub async fn list_triggers(
        &self,
        scope: &Scope,
        connection: Option<ConnectionId>,
    ) -> Result<Vec<Trigger>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM triggers WHERE org_id = $1 AND tenant_id = $2 \
             AND ($3 IS NULL OR connection_id = $3) ORDER BY created_at, id"
        );
        let rows: Vec<TriggerRow> = on_db!(self.db(), pool => sqlx::query_as(&sql)
            .bind(scope.org)
            .bind(scope.tenant)
            .bind(connection)
            .fetch_all(pool)
            .await
            .map_err(StoreError::query("list triggers"))?);
        rows.into_iter().map(TriggerRow::into_trigger).collect()
    }

    /// Enables or disables a trigger (enabling makes it due at once).
    pub async fn set_trigger_enabled(
        &self,
        scope: &Scope,
        id: TriggerId,
        enabled: bool,
    ) -> Result<Trigger, StoreError> {
        let now = now_ms();
        let n = on_db!(self.db(), pool => sqlx::query(
                "UPDATE triggers SET enabled = $1, next_poll_at = CASE WHEN $1 THEN $2 ELSE next_poll_at END, \
                 updated_at = $2, version = version + 1 WHERE id = $3 AND org_id = $4 AND tenant_id = $5")
            .bind(enabled)
            .bind(now)
            .bind(id)
            .bind(scope.org)
            .bind(scope.tenant)
            .execute(pool)
            .await
            .map_err(StoreError::query("enable trigger"))?
            .rows_affected());
        if n == 0 {
            return Err(not_found(id));
        }
        self.get_trigger(scope, id)
            .await?
            .ok_or_else(|| not_found(id))
    }

    /// Deletes a trigger; `Ok(false)` if absent.
    pub async fn delete_trigger(&self, scope: &Scope, id: TriggerId) -> Result<bool, StoreError> {
        let n = on_db!(self.db(), pool => sqlx::query(
                "DELETE FROM triggers WHERE id = $1 AND org_id = $2 AND tenant_id = $3")
            .bind(id)
            .bind(scope.org)
            .bind(scope.tenant)
            .execute(pool)
            .await
            .map_err(StoreError::query("delete trigger"))?
            .rows_affected());
        Ok(n > 0)
    }

    /// Enabled triggers due at `now`, across all tenants, oldest first: the
    /// scheduler's query (each result carries its [`Trigger::scope`], which
    /// every follow-up call must use).
    pub async fn due_triggers(
        &self,
        now: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<Trigger>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM triggers WHERE enabled AND next_poll_at <= $1 ORDER BY next_poll_at, id LIMIT $2"
        );
        let rows: Vec<TriggerRow> = on_db!(self.db(), pool => sqlx::query_as(&sql)
            .bind(to_ms(now))
            .bind(limit)
            .fetch_all(pool)
            .await
            .map_err(StoreError::query("due triggers"))?);
        rows.into_iter().map(TriggerRow::into_trigger).collect()
    }

    /// Records a poll: `cursor` replaces the stored cursor (pass the old one
    /// to keep it), `next_poll_at` schedules the next one, `error` is the
    /// poll's error text or `None`. Only if the trigger is still at
    /// `expected_version`; returns the new version.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when another poller recorded first.
    pub async fn record_trigger_poll(
        &self,
        scope: &Scope,
        id: TriggerId,
        expected_version: i64,
        cursor: Option<&str>,
        next_poll_at: OffsetDateTime,
        error: Option<&str>,
    ) -> Result<i64, StoreError> {
        let now = now_ms();
        let n = on_db!(self.db(), pool => sqlx::query(
                "UPDATE triggers SET cursor = $1, next_poll_at = $2, last_polled_at = $3, last_error = $4, \
                 updated_at = $3, version = version + 1 \
                 WHERE id = $5 AND org_id = $6 AND tenant_id = $7 AND version = $8")
            .bind(cursor)
            .bind(to_ms(next_poll_at))
            .bind(now)
            .bind(error)
            .bind(id)
            .bind(scope.org)
            .bind(scope.tenant)
            .bind(expected_version)
            .execute(pool)
            .await
            .map_err(StoreError::query("record trigger poll"))?
            .rows_affected());
        if n == 1 {
            return Ok(expected_version + 1);
        }
        match self.get_trigger(scope, id).await? {
            None => Err(not_found(id)),
            Some(t) => Err(StoreError::Conflict {
                what: "trigger",
                id: id.to_string(),
                expected: Some(expected_version),
                actual: Some(t.version),
            }),
        }
    }
}
