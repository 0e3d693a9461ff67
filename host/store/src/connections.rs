//! Connections: CRUD, status, account, the default flag (at most one default
//! per connector per folder, enforced by a partial unique index), and
//! listing with filters. Every query is scoped by organization and tenant.
//! This module must never touch credentials' plaintext (see `secrets`) and
//! never decide folder permissions (the server checks `folder_role`).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::db::{Db, from_ms, now_ms, on_db};
use crate::{ConnectionId, FolderId, Scope, Store, StoreError, UserId};

/// Connection status as the seeds name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    /// Authorized and working.
    Connected,
    /// Needs attention (e.g. reconnect required); see the messages.
    Disconnected,
    /// Created, authorization not finished.
    Pending,
}

impl ConnectionStatus {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connected => "connected",
            Self::Disconnected => "disconnected",
            Self::Pending => "pending",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "connected" => Ok(Self::Connected),
            "disconnected" => Ok(Self::Disconnected),
            "pending" => Ok(Self::Pending),
            other => Err(StoreError::Corrupt {
                what: "connection status",
                detail: format!("unknown status `{other}`"),
            }),
        }
    }
}

/// A connection (never holds the credential; see [`Store::get_credential`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    /// Id.
    pub id: ConnectionId,
    /// Organization and tenant.
    pub scope: Scope,
    /// Folder holding it.
    pub folder: FolderId,
    /// Connector id from its manifest (`zoom`, `oauth2`, `pat`...).
    pub connector: String,
    /// Auth kind (`oauth2_authorization_code`, `byoa`, `client_credentials`,
    /// `password`, `pat`, `client_certificate`...). Read-only after creation.
    pub auth_kind: String,
    /// Provider account id the credential belongs to.
    pub account_id: Option<String>,
    /// Provider account display name (e-mail...).
    pub account_display_name: Option<String>,
    /// Provider account e-mail, if the provider said.
    pub account_email: Option<String>,
    /// Name shown to users.
    pub name: String,
    /// Status.
    pub status: ConnectionStatus,
    /// Status message (ours).
    pub status_message: Option<String>,
    /// The provider's error message, verbatim.
    pub provider_error: Option<String>,
    /// Polling frequency for triggers, seconds.
    pub polling_frequency_seconds: Option<i64>,
    /// Default connection for this connector in this folder.
    pub is_default: bool,
    /// Non-secret configuration (e.g. base URL).
    pub config: serde_json::Value,
    /// Scopes the provider granted.
    pub granted_scopes: Vec<String>,
    /// Creator.
    pub created_by: Option<UserId>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last editor.
    pub updated_by: Option<UserId>,
    /// Last change.
    pub updated_at: OffsetDateTime,
    /// Row version, bumped by every change (optimistic concurrency).
    pub version: i64,
}

/// What [`Store::create_connection`] needs.
#[derive(Clone, Debug, PartialEq)]
pub struct NewConnection {
    /// Folder (must be in the scope's tenant).
    pub folder: FolderId,
    /// Connector id.
    pub connector: String,
    /// Auth kind.
    pub auth_kind: String,
    /// Name.
    pub name: String,
    /// Initial status (usually `Pending` for OAuth, `Connected` for a checked PAT).
    pub status: ConnectionStatus,
    /// Non-secret configuration.
    pub config: serde_json::Value,
    /// Polling frequency, seconds.
    pub polling_frequency_seconds: Option<i64>,
    /// Make it the default for its connector in its folder (clearing the old default).
    pub make_default: bool,
    /// Creator.
    pub created_by: Option<UserId>,
}

impl NewConnection {
    /// A pending connection with empty config.
    pub fn new(folder: FolderId, connector: &str, auth_kind: &str, name: &str) -> Self {
        Self {
            folder,
            connector: connector.to_owned(),
            auth_kind: auth_kind.to_owned(),
            name: name.to_owned(),
            status: ConnectionStatus::Pending,
            config: serde_json::json!({}),
            polling_frequency_seconds: None,
            make_default: false,
            created_by: None,
        }
    }
}

/// Editable fields; `None` leaves a field unchanged.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConnectionPatch {
    /// New name.
    pub name: Option<String>,
    /// New polling frequency (`Some(None)` clears it).
    pub polling_frequency_seconds: Option<Option<i64>>,
    /// New configuration.
    pub config: Option<serde_json::Value>,
}

/// Filters for [`Store::list_connections`]; all are ANDed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConnectionFilter {
    /// Only these folders (e.g. those the user can access). `Some(vec![])` matches nothing.
    pub folders: Option<Vec<FolderId>>,
    /// Only this connector.
    pub connector: Option<String>,
    /// Only this status.
    pub status: Option<ConnectionStatus>,
    /// Name contains (case-insensitive).
    pub name_contains: Option<String>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct ConnectionRow {
    id: Uuid,
    org_id: Uuid,
    tenant_id: Uuid,
    folder_id: Uuid,
    connector_key: String,
    auth_kind: String,
    account_id: Option<String>,
    account_display_name: Option<String>,
    account_email: Option<String>,
    name: String,
    status: String,
    status_message: Option<String>,
    provider_error: Option<String>,
    polling_frequency_seconds: Option<i64>,
    is_default: bool,
    config: String,
    granted_scopes: String,
    created_by: Option<Uuid>,
    created_at: i64,
    updated_by: Option<Uuid>,
    updated_at: i64,
    version: i64,
}

pub(crate) const CONNECTION_COLUMNS: &str = "id, org_id, tenant_id, folder_id, connector_key, auth_kind, \
    account_id, account_display_name, account_email, name, status, status_message, provider_error, \
    polling_frequency_seconds, is_default, config, granted_scopes, created_by, created_at, \
    updated_by, updated_at, version";

impl ConnectionRow {
    pub(crate) fn into_connection(self) -> Result<Connection, StoreError> {
        Ok(Connection {
            id: self.id.into(),
            scope: Scope::new(self.org_id.into(), self.tenant_id.into()),
            folder: self.folder_id.into(),
            connector: self.connector_key,
            auth_kind: self.auth_kind,
            account_id: self.account_id,
            account_display_name: self.account_display_name,
            account_email: self.account_email,
            name: self.name,
            status: ConnectionStatus::parse(&self.status)?,
            status_message: self.status_message,
            provider_error: self.provider_error,
            polling_frequency_seconds: self.polling_frequency_seconds,
            is_default: self.is_default,
            config: serde_json::from_str(&self.config).map_err(|e| StoreError::Corrupt {
                what: "connection config",
                detail: e.to_string(),
            })?,
            granted_scopes: serde_json::from_str(&self.granted_scopes).map_err(|e| {
                StoreError::Corrupt {
                    what: "connection granted scopes",
                    detail: e.to_string(),
                }
            })?,
            created_by: self.created_by.map(Into::into),
            created_at: from_ms(self.created_at),
            updated_by: self.updated_by.map(Into::into),
            updated_at: from_ms(self.updated_at),
            version: self.version,
        })
    }
}

pub(crate) fn not_found(id: ConnectionId) -> StoreError {
    StoreError::NotFound {
        what: "connection",
        id: id.to_string(),
    }
}

impl Store {
    /// Creates a connection in `new.folder`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the folder is not in this tenant.
    pub async fn create_connection(
        &self,
        scope: &Scope,
        new: NewConnection,
    ) -> Result<Connection, StoreError> {
        self.create_connection_with_id(scope, ConnectionId::new(), new)
            .await
    }

    /// [`Store::create_connection`] with an id the caller chose (the server
    /// hands out ids before the row exists).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the folder is not in this tenant;
    /// [`StoreError::Duplicate`] when the id is taken, or another default
    /// connection was made at the same time.
    pub async fn create_connection_with_id(
        &self,
        scope: &Scope,
        id: ConnectionId,
        new: NewConnection,
    ) -> Result<Connection, StoreError> {
        if self.get_folder(scope, new.folder).await?.is_none() {
            return Err(StoreError::NotFound {
                what: "folder",
                id: new.folder.to_string(),
            });
        }
        let at = now_ms();
        let config = new.config.to_string();
        on_db!(self.db(), pool => {
            let mut tx = pool.begin().await.map_err(StoreError::query("begin"))?;
            if new.make_default {
                sqlx::query(
                    "UPDATE connections SET is_default = FALSE WHERE org_id = $1 AND tenant_id = $2 \
                     AND folder_id = $3 AND connector_key = $4 AND is_default")
                    .bind(scope.org)
                    .bind(scope.tenant)
                    .bind(new.folder)
                    .bind(&new.connector)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("clear default connection"))?;
            }
            sqlx::query(
                "INSERT INTO connections (id, org_id, tenant_id, folder_id, connector_key, auth_kind, name, \
                 status, polling_frequency_seconds, is_default, config, granted_scopes, created_by, created_at, \
                 updated_by, updated_at, version) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, '[]', $12, $13, $12, $13, 1)")
                .bind(id)
                .bind(scope.org)
                .bind(scope.tenant)
                .bind(new.folder)
                .bind(&new.connector)
                .bind(&new.auth_kind)
                .bind(&new.name)
                .bind(new.status.as_str())
                .bind(new.polling_frequency_seconds)
                .bind(new.make_default)
                .bind(&config)
                .bind(new.created_by)
                .bind(at)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::write("create connection", "connection"))?;
            tx.commit().await.map_err(StoreError::query("commit"))?;
        });
        // The folder's other connections may have lost their default.
        self.connections_changed();
        self.existing_connection(scope, id).await
    }

    /// [`Store::get_connection`] where the connection must exist.
    async fn existing_connection(
        &self,
        scope: &Scope,
        id: ConnectionId,
    ) -> Result<Connection, StoreError> {
        self.get_connection(scope, id)
            .await?
            .ok_or_else(|| not_found(id))
    }

    /// The connection after an UPDATE that changed `rows` rows: not found
    /// when none matched (an unknown id or another tenant's), else re-read.
    async fn updated_connection(
        &self,
        scope: &Scope,
        id: ConnectionId,
        rows: u64,
    ) -> Result<Connection, StoreError> {
        if rows == 0 {
            return Err(not_found(id));
        }
        self.connection_changed(id);
        self.existing_connection(scope, id).await
    }

    /// A connection of this tenant; `None` for unknown ids and for other
    /// tenants' connections alike.
    pub async fn get_connection(
        &self,
        scope: &Scope,
        id: ConnectionId,
    ) -> Result<Option<Connection>, StoreError> {
        let sql = format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections WHERE id = $1 AND org_id = $2 AND tenant_id = $3"
        );
        let row: Option<ConnectionRow> = on_db!(self.db(), pool => sqlx::query_as(&sql)
            .bind(id)
            .bind(scope.org)
            .bind(scope.tenant)
            .fetch_optional(pool)
            .await
            .map_err(StoreError::query("get connection"))?);
        row.map(ConnectionRow::into_connection).transpose()
    }

    /// Connections of the tenant matching `filter`, ordered by folder, connector, name.
    pub async fn list_connections(
        &self,
        scope: &Scope,
        filter: &ConnectionFilter,
    ) -> Result<Vec<Connection>, StoreError> {
        if filter.folders.as_ref().is_some_and(|f| f.is_empty()) {
            return Ok(Vec::new());
        }
        macro_rules! build {
            ($qb:ident) => {{
                $qb.push(" WHERE org_id = ").push_bind(scope.org);
                $qb.push(" AND tenant_id = ").push_bind(scope.tenant);
                if let Some(folders) = &filter.folders {
                    $qb.push(" AND folder_id IN (");
                    let mut sep = $qb.separated(", ");
                    for f in folders {
                        sep.push_bind(*f);
                    }
                    $qb.push(")");
                }
                if let Some(c) = &filter.connector {
                    $qb.push(" AND connector_key = ").push_bind(c.clone());
                }
                if let Some(s) = filter.status {
                    $qb.push(" AND status = ").push_bind(s.as_str());
                }
                if let Some(n) = &filter.name_contains {
                    $qb.push(" AND LOWER(name) LIKE ")
                        .push_bind(format!("%{}%", n.to_lowercase()));
                }
                $qb.push(" ORDER BY folder_id, connector_key, name, id");
            }};
        }
        let head = format!("SELECT {CONNECTION_COLUMNS} FROM connections");
        let rows: Vec<ConnectionRow> = match self.db() {
            Db::Sqlite(pool) => {
                let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(&head);
                build!(qb);
                qb.build_query_as().fetch_all(pool).await
            }
            Db::Postgres(pool) => {
                let mut qb = sqlx::QueryBuilder::<sqlx::Postgres>::new(&head);
                build!(qb);
                qb.build_query_as().fetch_all(pool).await
            }
        }
        .map_err(StoreError::query("list connections"))?;
        rows.into_iter()
            .map(ConnectionRow::into_connection)
            .collect()
    }

    /// Edits name, polling frequency or config: only the fields the patch
    /// gives. With `expected_version`, fails with [`StoreError::Conflict`]
    /// if the row changed meanwhile; without, applies the patch to the
    /// current row, whatever else changed.
    pub async fn update_connection(
        &self,
        scope: &Scope,
        id: ConnectionId,
        patch: &ConnectionPatch,
        expected_version: Option<i64>,
        by: Option<UserId>,
    ) -> Result<Connection, StoreError> {
        // A patch without an expected version applies its fields on top of
        // whatever is current. Another writer between our read and our
        // write makes the write miss (it is conditional on the version
        // read); then read again and re-apply, rather than overwrite the
        // other writer's fields with the stale ones we read.
        const BLIND_ATTEMPTS: usize = 8;
        let mut attempt = 1;
        loop {
            let current = self.existing_connection(scope, id).await?;
            if let Some(v) = expected_version
                && v != current.version
            {
                return Err(StoreError::Conflict {
                    what: "connection",
                    id: id.to_string(),
                    expected: Some(v),
                    actual: Some(current.version),
                });
            }
            let read_version = current.version;
            if let Some(saved) = self.write_patch(scope, id, patch, current, by).await? {
                self.connection_changed(id);
                return Ok(saved);
            }
            let actual = self.get_connection(scope, id).await?.map(|c| c.version);
            if expected_version.is_some() || actual.is_none() || attempt == BLIND_ATTEMPTS {
                return Err(StoreError::Conflict {
                    what: "connection",
                    id: id.to_string(),
                    expected: Some(read_version),
                    actual,
                });
            }
            attempt += 1;
        }
    }

    /// Write `patch` over `current`, only if the row is still at
    /// `current`'s version. The row as written, or `None` if it had moved
    /// on.
    async fn write_patch(
        &self,
        scope: &Scope,
        id: ConnectionId,
        patch: &ConnectionPatch,
        current: Connection,
        by: Option<UserId>,
    ) -> Result<Option<Connection>, StoreError> {
        let name = patch.name.clone().unwrap_or(current.name);
        let poll = patch
            .polling_frequency_seconds
            .unwrap_or(current.polling_frequency_seconds);
        if let Some(p) = poll
            && p <= 0
        {
            return Err(StoreError::Invalid {
                what: "polling frequency",
                reason: format!("{p} seconds; it must be positive"),
            });
        }
        let config = patch.config.as_ref().unwrap_or(&current.config).to_string();
        let sql = format!(
            "UPDATE connections SET name = $1, polling_frequency_seconds = $2, config = $3, \
             updated_by = $4, updated_at = $5, version = version + 1 \
             WHERE id = $6 AND org_id = $7 AND tenant_id = $8 AND version = $9 \
             RETURNING {CONNECTION_COLUMNS}"
        );
        let row: Option<ConnectionRow> = on_db!(self.db(), pool => sqlx::query_as(&sql)
            .bind(&name)
            .bind(poll)
            .bind(&config)
            .bind(by)
            .bind(now_ms())
            .bind(id)
            .bind(scope.org)
            .bind(scope.tenant)
            .bind(current.version)
            .fetch_optional(pool)
            .await
            .map_err(StoreError::query("update connection"))?);
        row.map(ConnectionRow::into_connection).transpose()
    }

    /// Sets status, our message and the provider's error message (e.g.
    /// `Disconnected`, "reconnect required", the provider's `invalid_grant` text).
    pub async fn set_connection_status(
        &self,
        scope: &Scope,
        id: ConnectionId,
        status: ConnectionStatus,
        message: Option<&str>,
        provider_error: Option<&str>,
    ) -> Result<Connection, StoreError> {
        let n = on_db!(self.db(), pool => sqlx::query(
                "UPDATE connections SET status = $1, status_message = $2, provider_error = $3, \
                 updated_at = $4, version = version + 1 WHERE id = $5 AND org_id = $6 AND tenant_id = $7")
            .bind(status.as_str())
            .bind(message)
            .bind(provider_error)
            .bind(now_ms())
            .bind(id)
            .bind(scope.org)
            .bind(scope.tenant)
            .execute(pool)
            .await
            .map_err(StoreError::query("set connection status"))?
            .rows_affected());
        self.updated_connection(scope, id, n).await
    }

    /// Records the provider account and granted scopes after authorization.
    pub async fn set_connection_account(
        &self,
        scope: &Scope,
        id: ConnectionId,
        account_id: Option<&str>,
        account_display_name: Option<&str>,
        granted_scopes: &[String],
    ) -> Result<Connection, StoreError> {
        let scopes = serde_json::to_string(granted_scopes).expect("strings serialize");
        let n = on_db!(self.db(), pool => sqlx::query(
                "UPDATE connections SET account_id = $1, account_display_name = $2, granted_scopes = $3, \
                 updated_at = $4, version = version + 1 WHERE id = $5 AND org_id = $6 AND tenant_id = $7")
            .bind(account_id)
            .bind(account_display_name)
            .bind(&scopes)
            .bind(now_ms())
            .bind(id)
            .bind(scope.org)
            .bind(scope.tenant)
            .execute(pool)
            .await
            .map_err(StoreError::query("set connection account"))?
            .rows_affected());
        self.updated_connection(scope, id, n).await
    }

    /// Makes `id` the default connection of its connector in its folder,
    /// clearing the previous default in the same transaction.
    pub async fn set_default_connection(
        &self,
        scope: &Scope,
        id: ConnectionId,
        by: Option<UserId>,
    ) -> Result<Connection, StoreError> {
        let c = self.existing_connection(scope, id).await?;
        on_db!(self.db(), pool => {
            let mut tx = pool.begin().await.map_err(StoreError::query("begin"))?;
            sqlx::query(
                "UPDATE connections SET is_default = FALSE, updated_at = $5, version = version + 1 \
                 WHERE org_id = $1 AND tenant_id = $2 AND folder_id = $3 AND connector_key = $4 \
                 AND is_default AND id <> $6")
                .bind(scope.org)
                .bind(scope.tenant)
                .bind(c.folder)
                .bind(&c.connector)
                .bind(now_ms())
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("clear default connection"))?;
            let n = sqlx::query(
                "UPDATE connections SET is_default = TRUE, updated_by = $1, updated_at = $2, version = version + 1 \
                 WHERE id = $3 AND org_id = $4 AND tenant_id = $5 AND NOT is_default")
                .bind(by)
                .bind(now_ms())
                .bind(id)
                .bind(scope.org)
                .bind(scope.tenant)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::write("set default connection", "default connection"))?
                .rows_affected();
            let _ = n; // 0: it already was the default
            tx.commit().await.map_err(StoreError::query("commit"))?;
        });
        // The folder's other connections may have lost their default.
        self.connections_changed();
        self.existing_connection(scope, id).await
    }

    /// The default connection of `connector` in `folder`, if any.
    pub async fn default_connection(
        &self,
        scope: &Scope,
        folder: FolderId,
        connector: &str,
    ) -> Result<Option<Connection>, StoreError> {
        let sql = format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections WHERE org_id = $1 AND tenant_id = $2 \
             AND folder_id = $3 AND connector_key = $4 AND is_default"
        );
        let row: Option<ConnectionRow> = on_db!(self.db(), pool => sqlx::query_as(&sql)
            .bind(scope.org)
            .bind(scope.tenant)
            .bind(folder)
            .bind(connector)
            .fetch_optional(pool)
            .await
            .map_err(StoreError::query("default connection"))?);
        row.map(ConnectionRow::into_connection).transpose()
    }

    /// Deletes a connection with its credential, connector secrets and
    /// pending authorizations. Refused with [`StoreError::InUse`] while
    /// triggers reference it. `Ok(false)` when it did not exist.
    pub async fn delete_connection(
        &self,
        scope: &Scope,
        id: ConnectionId,
    ) -> Result<bool, StoreError> {
        let triggers: i64 = on_db!(self.db(), pool => sqlx::query_scalar(
                "SELECT COUNT(*) FROM triggers WHERE connection_id = $1 AND org_id = $2 AND tenant_id = $3")
            .bind(id)
            .bind(scope.org)
            .bind(scope.tenant)
            .fetch_one(pool)
            .await
            .map_err(StoreError::query("count connection triggers"))?);
        if triggers > 0 {
            return Err(StoreError::InUse {
                what: "connection",
                id: id.to_string(),
                detail: format!("{triggers} trigger(s) use it; delete them first"),
            });
        }
        let res = on_db!(self.db(), pool => sqlx::query(
                "DELETE FROM connections WHERE id = $1 AND org_id = $2 AND tenant_id = $3")
            .bind(id)
            .bind(scope.org)
            .bind(scope.tenant)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()));
        match res {
            Ok(n) => {
                self.connection_changed(id);
                Ok(n > 0)
            }
            Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
                Err(StoreError::InUse {
                    what: "connection",
                    id: id.to_string(),
                    detail: "a trigger was added meanwhile; delete it first".into(),
                })
            }
            Err(e) => Err(StoreError::query("delete connection")(e)),
        }
    }
}
