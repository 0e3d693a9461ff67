//! Connectors registered in a tenant: bundled ones (bytes ship in the
//! binary; only their content hash is recorded) and uploaded ones (bytes
//! stored once in `component_blobs`, by SHA-256, so every replica sees
//! them). A tenant reads component bytes only through a connector row of
//! its own. This module must never validate or run a component — the
//! runtime does — and never let one tenant reach another's uploads by hash.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::db::{from_ms, now_ms, on_db};
use crate::{ConnectorId, Scope, Store, StoreError, UserId};

/// Where a connector's component comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectorOrigin {
    /// Shipped inside the Plugboard binary.
    Bundled,
    /// Uploaded by the tenant; bytes in the database.
    Uploaded,
}

impl ConnectorOrigin {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bundled => "bundled",
            Self::Uploaded => "uploaded",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "bundled" => Ok(Self::Bundled),
            "uploaded" => Ok(Self::Uploaded),
            other => Err(StoreError::Corrupt {
                what: "connector origin",
                detail: format!("unknown origin `{other}`"),
            }),
        }
    }
}

/// One version of one connector available in a tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorRecord {
    /// Row id.
    pub id: ConnectorId,
    /// Tenant.
    pub scope: Scope,
    /// Connector id from the manifest (`zoom`).
    pub connector: String,
    /// Version from the manifest.
    pub version: String,
    /// SHA-256 of the component bytes, lowercase hex.
    pub content_hash: String,
    /// Bundled or uploaded.
    pub origin: ConnectorOrigin,
    /// Whether new connections may use it.
    pub enabled: bool,
    /// Who registered it.
    pub created_by: Option<UserId>,
    /// When.
    pub created_at: OffsetDateTime,
}

/// What [`Store::register_connector`] needs.
#[derive(Clone, Debug)]
pub struct NewConnector<'a> {
    /// Connector id from the manifest.
    pub connector: &'a str,
    /// Version from the manifest.
    pub version: &'a str,
    /// Bundled or uploaded.
    pub origin: ConnectorOrigin,
    /// The component bytes (hashed always; stored only when uploaded).
    pub component: &'a [u8],
    /// Who registers it.
    pub created_by: Option<UserId>,
}

/// SHA-256 of component bytes, lowercase hex: the content hash used here and
/// by the runtime's compile cache.
pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[derive(sqlx::FromRow)]
struct ConnectorRow {
    id: Uuid,
    org_id: Uuid,
    tenant_id: Uuid,
    connector_key: String,
    version: String,
    content_hash: String,
    origin: String,
    enabled: bool,
    created_by: Option<Uuid>,
    created_at: i64,
}

impl ConnectorRow {
    fn into_record(self) -> Result<ConnectorRecord, StoreError> {
        Ok(ConnectorRecord {
            id: self.id.into(),
            scope: Scope::new(self.org_id.into(), self.tenant_id.into()),
            connector: self.connector_key,
            version: self.version,
            content_hash: self.content_hash,
            origin: ConnectorOrigin::parse(&self.origin)?,
            enabled: self.enabled,
            created_by: self.created_by.map(Into::into),
            created_at: from_ms(self.created_at),
        })
    }
}

const COLUMNS: &str = "id, org_id, tenant_id, connector_key, version, content_hash, origin, enabled, created_by, created_at";

impl Store {
    /// Registers a connector version in the tenant. Idempotent for the same
    /// bytes; a different component under an existing `(connector, version)`
    /// is refused with [`StoreError::Duplicate`].
    pub async fn register_connector(
        &self,
        scope: &Scope,
        new: NewConnector<'_>,
    ) -> Result<ConnectorRecord, StoreError> {
        let hash = content_hash(new.component);
        if let Some(existing) = self
            .find_connector(scope, new.connector, Some(new.version))
            .await?
        {
            if existing.content_hash == hash {
                return Ok(existing);
            }
            return Err(StoreError::Duplicate {
                what: "connector version",
                detail: format!(
                    "`{}` {} is already registered with other content (sha256 {}); bump the version",
                    new.connector, new.version, existing.content_hash
                ),
            });
        }
        let id = ConnectorId::new();
        on_db!(self.db(), pool => {
            let mut tx = pool.begin().await.map_err(StoreError::query("begin"))?;
            if new.origin == ConnectorOrigin::Uploaded {
                sqlx::query(
                    "INSERT INTO component_blobs (content_hash, bytes, size, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (content_hash) DO NOTHING")
                    .bind(&hash)
                    .bind(new.component)
                    .bind(new.component.len() as i64)
                    .bind(now_ms())
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("store component bytes"))?;
            }
            sqlx::query(
                "INSERT INTO connectors (id, org_id, tenant_id, connector_key, version, content_hash, origin, \
                 enabled, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, TRUE, $8, $9)")
                .bind(id)
                .bind(scope.org)
                .bind(scope.tenant)
                .bind(new.connector)
                .bind(new.version)
                .bind(&hash)
                .bind(new.origin.as_str())
                .bind(new.created_by)
                .bind(now_ms())
                .execute(&mut *tx)
                .await
                .map_err(StoreError::write("register connector", "connector version"))?;
            tx.commit().await.map_err(StoreError::query("commit"))?;
        });
        self.get_connector(scope, id)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "connector",
                id: id.to_string(),
            })
    }

    /// A connector row of the tenant.
    pub async fn get_connector(
        &self,
        scope: &Scope,
        id: ConnectorId,
    ) -> Result<Option<ConnectorRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM connectors WHERE id = $1 AND org_id = $2 AND tenant_id = $3"
        );
        let row: Option<ConnectorRow> = on_db!(self.db(), pool => sqlx::query_as(&sql)
            .bind(id)
            .bind(scope.org)
            .bind(scope.tenant)
            .fetch_optional(pool)
            .await
            .map_err(StoreError::query("get connector"))?);
        row.map(ConnectorRow::into_record).transpose()
    }

    /// A connector by manifest id: the given version, or the most recently
    /// registered enabled one.
    pub async fn find_connector(
        &self,
        scope: &Scope,
        connector: &str,
        version: Option<&str>,
    ) -> Result<Option<ConnectorRecord>, StoreError> {
        let row: Option<ConnectorRow> = match version {
            Some(v) => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM connectors WHERE org_id = $1 AND tenant_id = $2 \
                     AND connector_key = $3 AND version = $4"
                );
                on_db!(self.db(), pool => sqlx::query_as(&sql)
                    .bind(scope.org)
                    .bind(scope.tenant)
                    .bind(connector)
                    .bind(v)
                    .fetch_optional(pool)
                    .await
                    .map_err(StoreError::query("find connector"))?)
            }
            None => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM connectors WHERE org_id = $1 AND tenant_id = $2 \
                     AND connector_key = $3 AND enabled ORDER BY created_at DESC, id DESC LIMIT 1"
                );
                on_db!(self.db(), pool => sqlx::query_as(&sql)
                    .bind(scope.org)
                    .bind(scope.tenant)
                    .bind(connector)
                    .fetch_optional(pool)
                    .await
                    .map_err(StoreError::query("find connector"))?)
            }
        };
        row.map(ConnectorRow::into_record).transpose()
    }

    /// Every connector version registered in the tenant.
    pub async fn list_connectors(&self, scope: &Scope) -> Result<Vec<ConnectorRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM connectors WHERE org_id = $1 AND tenant_id = $2 \
             ORDER BY connector_key, created_at, id"
        );
        let rows: Vec<ConnectorRow> = on_db!(self.db(), pool => sqlx::query_as(&sql)
            .bind(scope.org)
            .bind(scope.tenant)
            .fetch_all(pool)
            .await
            .map_err(StoreError::query("list connectors"))?);
        rows.into_iter().map(ConnectorRow::into_record).collect()
    }

    /// The uploaded component bytes of one of the tenant's connectors
    /// (`None` for bundled connectors: their bytes are in the binary).
    pub async fn connector_component(
        &self,
        scope: &Scope,
        id: ConnectorId,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        on_db!(self.db(), pool => sqlx::query_scalar(
                "SELECT b.bytes FROM connectors c JOIN component_blobs b ON b.content_hash = c.content_hash \
                 WHERE c.id = $1 AND c.org_id = $2 AND c.tenant_id = $3")
            .bind(id)
            .bind(scope.org)
            .bind(scope.tenant)
            .fetch_optional(pool)
            .await
            .map_err(StoreError::query("read component bytes")))
    }

    /// Enables or disables a connector version.
    pub async fn set_connector_enabled(
        &self,
        scope: &Scope,
        id: ConnectorId,
        enabled: bool,
    ) -> Result<(), StoreError> {
        let n = on_db!(self.db(), pool => sqlx::query(
                "UPDATE connectors SET enabled = $1 WHERE id = $2 AND org_id = $3 AND tenant_id = $4")
            .bind(enabled)
            .bind(id)
            .bind(scope.org)
            .bind(scope.tenant)
            .execute(pool)
            .await
            .map_err(StoreError::query("enable connector"))?
            .rows_affected());
        if n == 0 {
            return Err(StoreError::NotFound {
                what: "connector",
                id: id.to_string(),
            });
        }
        Ok(())
    }

    /// Removes a connector version (and its bytes when no tenant uses them).
    /// Refused while connections of the tenant use this connector id and no
    /// other version of it remains.
    pub async fn delete_connector(
        &self,
        scope: &Scope,
        id: ConnectorId,
    ) -> Result<bool, StoreError> {
        let Some(rec) = self.get_connector(scope, id).await? else {
            return Ok(false);
        };
        let (others, in_use): (i64, i64) = on_db!(self.db(), pool => sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM connectors WHERE org_id = $1 AND tenant_id = $2 \
                         AND connector_key = $3 AND id <> $4), \
                        (SELECT COUNT(*) FROM connections WHERE org_id = $1 AND tenant_id = $2 AND connector_key = $3)")
            .bind(scope.org)
            .bind(scope.tenant)
            .bind(&rec.connector)
            .bind(id)
            .fetch_one(pool)
            .await
            .map_err(StoreError::query("check connector use"))?);
        if others == 0 && in_use > 0 {
            return Err(StoreError::InUse {
                what: "connector",
                id: id.to_string(),
                detail: format!(
                    "{in_use} connection(s) use `{}`; delete them first",
                    rec.connector
                ),
            });
        }
        on_db!(self.db(), pool => {
            let mut tx = pool.begin().await.map_err(StoreError::query("begin"))?;
            sqlx::query("DELETE FROM connectors WHERE id = $1 AND org_id = $2 AND tenant_id = $3")
                .bind(id)
                .bind(scope.org)
                .bind(scope.tenant)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("delete connector"))?;
            sqlx::query(
                "DELETE FROM component_blobs WHERE content_hash = $1 \
                 AND NOT EXISTS (SELECT 1 FROM connectors WHERE content_hash = $1)")
                .bind(&rec.content_hash)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("delete unused component bytes"))?;
            tx.commit().await.map_err(StoreError::query("commit"))?;
        });
        Ok(true)
    }
}
