//! Audit events: an append-only log per organization (optionally tagged
//! with a tenant), queried newest first with filters. This module must
//! never update or delete events, and never record secret values: callers
//! pass ids and outcomes, not tokens.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::db::{Db, from_ms, now_ms, on_db, to_ms};
use crate::{AuditEventId, OrganizationId, Store, StoreError, TenantId};

/// One audit event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Id (UUID v7: sorts by time).
    pub id: AuditEventId,
    /// Organization.
    pub org: OrganizationId,
    /// Tenant, when the action was tenant-scoped.
    pub tenant: Option<TenantId>,
    /// Who (user id, robot, `system`).
    pub actor: String,
    /// What (`connection.create`, `keys.rotate`...).
    pub action: String,
    /// Kind of target (`connection`...).
    pub target_kind: Option<String>,
    /// Target id.
    pub target_id: Option<String>,
    /// `success`, `failure`, `denied`...
    pub outcome: String,
    /// Non-secret details.
    pub details: serde_json::Value,
    /// When.
    pub created_at: OffsetDateTime,
}

/// What [`Store::record_audit`] needs.
#[derive(Clone, Debug, PartialEq)]
pub struct NewAuditEvent {
    /// Tenant, if any.
    pub tenant: Option<TenantId>,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// Kind of target.
    pub target_kind: Option<String>,
    /// Target id.
    pub target_id: Option<String>,
    /// Outcome.
    pub outcome: String,
    /// Non-secret details.
    pub details: serde_json::Value,
}

/// Filters for [`Store::list_audit`]; all ANDed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditFilter {
    /// Only this tenant.
    pub tenant: Option<TenantId>,
    /// Only this action.
    pub action: Option<String>,
    /// Only this actor.
    pub actor: Option<String>,
    /// At or after.
    pub from: Option<OffsetDateTime>,
    /// Before.
    pub to: Option<OffsetDateTime>,
    /// Page size (default 100, at most 1000).
    pub limit: Option<i64>,
    /// Rows to skip.
    pub offset: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: Uuid,
    org_id: Uuid,
    tenant_id: Option<Uuid>,
    actor: String,
    action: String,
    target_kind: Option<String>,
    target_id: Option<String>,
    outcome: String,
    details: String,
    created_at: i64,
}

impl Store {
    /// Appends an audit event.
    pub async fn record_audit(
        &self,
        org: OrganizationId,
        event: NewAuditEvent,
    ) -> Result<AuditEventId, StoreError> {
        let id = AuditEventId::new();
        on_db!(self.db(), pool => sqlx::query(
                "INSERT INTO audit_events (id, org_id, tenant_id, actor, action, target_kind, target_id, outcome, \
                 details, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
            .bind(id)
            .bind(org)
            .bind(event.tenant)
            .bind(&event.actor)
            .bind(&event.action)
            .bind(&event.target_kind)
            .bind(&event.target_id)
            .bind(&event.outcome)
            .bind(event.details.to_string())
            .bind(now_ms())
            .execute(pool)
            .await
            .map_err(StoreError::query("record audit event"))?
            .rows_affected());
        Ok(id)
    }

    /// Audit events of the organization, newest first.
    pub async fn list_audit(
        &self,
        org: OrganizationId,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        macro_rules! build {
            ($qb:ident) => {{
                $qb.push(" WHERE org_id = ").push_bind(org);
                if let Some(t) = filter.tenant {
                    $qb.push(" AND tenant_id = ").push_bind(t);
                }
                if let Some(a) = &filter.action {
                    $qb.push(" AND action = ").push_bind(a.clone());
                }
                if let Some(a) = &filter.actor {
                    $qb.push(" AND actor = ").push_bind(a.clone());
                }
                if let Some(f) = filter.from {
                    $qb.push(" AND created_at >= ").push_bind(to_ms(f));
                }
                if let Some(t) = filter.to {
                    $qb.push(" AND created_at < ").push_bind(to_ms(t));
                }
                $qb.push(" ORDER BY created_at DESC, id DESC LIMIT ")
                    .push_bind(filter.limit.unwrap_or(100).clamp(1, 1000));
                $qb.push(" OFFSET ")
                    .push_bind(filter.offset.unwrap_or(0).max(0));
            }};
        }
        let head = "SELECT id, org_id, tenant_id, actor, action, target_kind, target_id, outcome, details, \
                    created_at FROM audit_events";
        let rows: Vec<AuditRow> = match self.db() {
            Db::Sqlite(pool) => {
                let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(head);
                build!(qb);
                qb.build_query_as().fetch_all(pool).await
            }
            Db::Postgres(pool) => {
                let mut qb = sqlx::QueryBuilder::<sqlx::Postgres>::new(head);
                build!(qb);
                qb.build_query_as().fetch_all(pool).await
            }
        }
        .map_err(StoreError::query("list audit events"))?;
        Ok(rows
            .into_iter()
            .map(|r| AuditEvent {
                id: r.id.into(),
                org: r.org_id.into(),
                tenant: r.tenant_id.map(Into::into),
                actor: r.actor,
                action: r.action,
                target_kind: r.target_kind,
                target_id: r.target_id,
                outcome: r.outcome,
                details: serde_json::from_str(&r.details).unwrap_or(serde_json::Value::Null),
                created_at: from_ms(r.created_at),
            })
            .collect())
    }
}
