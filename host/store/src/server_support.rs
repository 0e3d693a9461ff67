//! What `plugboard serve` needs beyond the resource modules: which tenant a
//! user works in, API tokens (by SHA-256 only), references to connections
//! from processes and apps, the account e-mail of a connection,
//! organization connection settings, and a cheap ping. Every tenant-owned
//! query takes a [`Scope`]; the token lookup is the one that finds a scope.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::connections::{CONNECTION_COLUMNS, ConnectionRow};
use crate::db::{from_ms, now_ms, on_db};
use crate::tenancy::FolderRow;
use crate::{
    ApiTokenId, Connection, ConnectionId, ConnectionStatus, Folder, FolderId, OrganizationId,
    Scope, Store, StoreError, TenantId, User, UserId,
};

/// Who an API token or console session belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenOwner {
    /// Organization and tenant the token works in.
    pub scope: Scope,
    /// The user.
    pub user: UserId,
    /// The user's name.
    pub user_name: String,
    /// Tenant administrator.
    pub is_admin: bool,
}

/// An API token as its owner sees it: never the token, never its hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiToken {
    /// Public id (for listing and revoking).
    pub id: ApiTokenId,
    /// Whose token it is.
    pub user: UserId,
    /// Label chosen at creation, e.g. `ci`.
    pub name: String,
    /// When it was made.
    pub created_at: OffsetDateTime,
    /// When it was last used, to within [`TOKEN_LAST_USED_PRECISION`];
    /// `None` if never.
    pub last_used_at: Option<OffsetDateTime>,
}

/// How stale a token's stored last-used time may get before a lookup
/// writes a new one: an hour, so that using a token costs a write at most
/// once an hour, not once a request.
pub const TOKEN_LAST_USED_PRECISION: time::Duration = time::Duration::hours(1);

/// Something that uses a connection (a process, an app, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionReference {
    /// `process`, `app`, ...
    pub kind: String,
    /// The referencing object's id in its own system.
    pub id: String,
    /// Its display name.
    pub name: String,
}

/// The `org_settings` key of [`ConnectionSettings::restrict_shared_connections`].
pub const RESTRICT_SHARED_CONNECTIONS: &str = "restrict_shared_connections";
/// The `org_settings` key of [`ConnectionSettings::allowed_connectors`]
/// (a JSON array of connector ids, or `null`).
pub const ALLOWED_CONNECTORS: &str = "allowed_connectors";

/// Organization settings for connections.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectionSettings {
    /// Regular users may not create connections in shared folders.
    pub restrict_shared_connections: bool,
    /// The connectors new connections may use; `None`: every connector.
    pub allowed_connectors: Option<Vec<String>>,
}

/// `org_id, tenant_id, user_id, user_name, is_admin` of a token or session owner.
pub(crate) type OwnerRow = (Uuid, Uuid, Uuid, String, bool);

impl TokenOwner {
    pub(crate) fn from_row((org, tenant, user, user_name, is_admin): OwnerRow) -> Self {
        TokenOwner {
            scope: Scope::new(org.into(), tenant.into()),
            user: user.into(),
            user_name,
            is_admin,
        }
    }
}

/// The error when a user works in no tenant.
pub(crate) fn no_tenant_user(user: UserId) -> StoreError {
    StoreError::NotFound {
        what: "tenant user",
        id: user.to_string(),
    }
}

impl Store {
    /// One round trip to the database (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        let _: i64 = on_db!(self.db(), pool => sqlx::query_scalar("SELECT CAST(1 AS BIGINT)")
            .fetch_one(pool)
            .await
            .map_err(StoreError::query("ping"))?);
        Ok(())
    }

    /// Whether any user exists at all (first start creates the admin when not).
    pub async fn has_users(&self) -> Result<bool, StoreError> {
        let n: i64 = on_db!(self.db(), pool => sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(pool)
            .await
            .map_err(StoreError::query("count users"))?);
        Ok(n > 0)
    }

    /// The scope of a tenant id (`None`: no such tenant).
    pub async fn tenant_scope(&self, tenant: TenantId) -> Result<Option<Scope>, StoreError> {
        let org: Option<Uuid> = on_db!(self.db(), pool => sqlx::query_scalar(
                "SELECT org_id FROM tenants WHERE id = $1")
            .bind(tenant)
            .fetch_optional(pool)
            .await
            .map_err(StoreError::query("tenant scope"))?);
        Ok(org.map(|o| Scope::new(o.into(), tenant)))
    }

    /// Puts a user of the scope's organization into the tenant.
    pub async fn add_tenant_user(
        &self,
        scope: &Scope,
        user: UserId,
        is_admin: bool,
    ) -> Result<(), StoreError> {
        on_db!(self.db(), pool => sqlx::query(
                "INSERT INTO tenant_users (user_id, org_id, tenant_id, is_admin) \
                 SELECT id, org_id, $2, $3 FROM users WHERE id = $1 AND org_id = $4")
            .bind(user)
            .bind(scope.tenant)
            .bind(is_admin)
            .bind(scope.org)
            .execute(pool)
            .await
            .map_err(StoreError::write("add tenant user", "tenant user"))?
            .rows_affected());
        Ok(())
    }

    /// The tenant a user works in and whether they administer it.
    pub async fn tenant_user(
        &self,
        user: UserId,
    ) -> Result<Option<(Scope, User, bool)>, StoreError> {
        #[allow(clippy::type_complexity)]
        let row: Option<(Uuid, Uuid, bool)> = on_db!(self.db(), pool => sqlx::query_as(
                "SELECT org_id, tenant_id, is_admin FROM tenant_users WHERE user_id = $1")
            .bind(user)
            .fetch_optional(pool)
            .await
            .map_err(StoreError::query("tenant user"))?);
        let Some((org, tenant, admin)) = row else {
            return Ok(None);
        };
        let org: OrganizationId = org.into();
        Ok(self
            .get_user(org, user)
            .await?
            .map(|u| (Scope::new(org, tenant.into()), u, admin)))
    }

    /// Remembers an API token of a tenant user by its SHA-256 (hex), named
    /// `default` (see [`Store::create_api_token`]).
    pub async fn add_api_token(&self, user: UserId, token_sha256: &str) -> Result<(), StoreError> {
        self.create_api_token(user, "default", token_sha256)
            .await
            .map(|_| ())
    }

    /// Remembers an API token of a tenant user by its SHA-256 (hex) under
    /// a label (`name`, e.g. `ci`); returns its public id, by which it is
    /// listed and revoked.
    pub async fn create_api_token(
        &self,
        user: UserId,
        name: &str,
        token_sha256: &str,
    ) -> Result<ApiToken, StoreError> {
        let id = ApiTokenId::new();
        let created_at = now_ms();
        let n = on_db!(self.db(), pool => sqlx::query(
                "INSERT INTO api_tokens (id, name, token_sha256, user_id, org_id, tenant_id, created_at) \
                 SELECT $1, $2, $3, user_id, org_id, tenant_id, $4 FROM tenant_users WHERE user_id = $5")
            .bind(id)
            .bind(name)
            .bind(token_sha256)
            .bind(created_at)
            .bind(user)
            .execute(pool)
            .await
            .map_err(StoreError::write("add API token", "API token"))?
            .rows_affected());
        if n == 0 {
            return Err(no_tenant_user(user));
        }
        Ok(ApiToken {
            id,
            user,
            name: name.to_owned(),
            created_at: from_ms(created_at),
            last_used_at: None,
        })
    }

    /// A user's API tokens, oldest first (never their hashes).
    pub async fn list_api_tokens(&self, user: UserId) -> Result<Vec<ApiToken>, StoreError> {
        let rows: Vec<(ApiTokenId, String, i64, Option<i64>)> = on_db!(self.db(), pool => sqlx::query_as(
                "SELECT id, name, created_at, last_used_at FROM api_tokens WHERE user_id = $1 \
                 ORDER BY created_at, id")
            .bind(user)
            .fetch_all(pool)
            .await
            .map_err(StoreError::query("list API tokens"))?);
        Ok(rows
            .into_iter()
            .map(|(id, name, created_at, last_used_at)| ApiToken {
                id,
                user,
                name,
                created_at: from_ms(created_at),
                last_used_at: last_used_at.map(from_ms),
            })
            .collect())
    }

    /// Revokes `user`'s token `id`: it is refused from now on, also by
    /// this store's token cache. False if `user` has no such token.
    pub async fn delete_api_token(&self, user: UserId, id: ApiTokenId) -> Result<bool, StoreError> {
        let Some(hash): Option<String> = on_db!(self.db(), pool => sqlx::query_scalar(
                "DELETE FROM api_tokens WHERE id = $1 AND user_id = $2 RETURNING token_sha256")
            .bind(id)
            .bind(user)
            .fetch_optional(pool)
            .await
            .map_err(StoreError::query("delete API token"))?)
        else {
            return Ok(false);
        };
        self.inner.token_owners.forget_token(&hash);
        Ok(true)
    }

    /// Revokes token `id` of any user of the scope's tenant (administrators);
    /// returns its owner, `None` if the tenant has no such token.
    pub async fn delete_tenant_api_token(
        &self,
        scope: &Scope,
        id: ApiTokenId,
    ) -> Result<Option<UserId>, StoreError> {
        let Some((hash, owner)): Option<(String, UserId)> = on_db!(self.db(), pool => sqlx::query_as(
                "DELETE FROM api_tokens WHERE id = $1 AND org_id = $2 AND tenant_id = $3 \
                 RETURNING token_sha256, user_id")
            .bind(id)
            .bind(scope.org)
            .bind(scope.tenant)
            .fetch_optional(pool)
            .await
            .map_err(StoreError::query("delete API token"))?)
        else {
            return Ok(None);
        };
        self.inner.token_owners.forget_token(&hash);
        Ok(Some(owner))
    }

    /// Who the token with this SHA-256 (hex) belongs to.
    /// Answered from memory when looked up less than the token cache's TTL
    /// ago (see [`crate::token_cache`]).
    pub async fn token_owner(&self, token_sha256: &str) -> Result<Option<TokenOwner>, StoreError> {
        let cache = self.inner.token_owners.cache();
        if let Some(owner) = cache.get(token_sha256) {
            return Ok(Some(owner));
        }
        let looked_up = std::time::Instant::now();
        let row: Option<(Uuid, Uuid, Uuid, String, bool, Option<i64>)> = on_db!(self.db(), pool => sqlx::query_as(
                "SELECT t.org_id, t.tenant_id, t.user_id, u.user_name, tu.is_admin, t.last_used_at FROM api_tokens t \
                 JOIN tenant_users tu ON tu.user_id = t.user_id AND tu.org_id = t.org_id AND tu.tenant_id = t.tenant_id \
                 JOIN users u ON u.id = t.user_id AND u.org_id = t.org_id \
                 WHERE t.token_sha256 = $1")
            .bind(token_sha256)
            .fetch_optional(pool)
            .await
            .map_err(StoreError::query("token owner"))?);
        let Some((org, tenant, user, user_name, is_admin, last_used_at)) = row else {
            return Ok(None);
        };
        self.note_token_use(token_sha256, last_used_at).await;
        let owner = TokenOwner::from_row((org, tenant, user, user_name, is_admin));
        cache.put(token_sha256.to_owned(), owner.clone(), looked_up);
        Ok(Some(owner))
    }

    /// Store "used now" for the token if its last-used time is unset or
    /// older than [`TOKEN_LAST_USED_PRECISION`]. A failure is logged, not
    /// returned: it must not turn a valid token away.
    async fn note_token_use(&self, token_sha256: &str, last_used_at: Option<i64>) {
        let now = now_ms();
        let precision = TOKEN_LAST_USED_PRECISION.whole_milliseconds() as i64;
        if last_used_at.is_some_and(|at| now - at < precision) {
            return;
        }
        let written = on_db!(self.db(), pool => sqlx::query(
                "UPDATE api_tokens SET last_used_at = $1 WHERE token_sha256 = $2")
            .bind(now)
            .bind(token_sha256)
            .execute(pool)
            .await
            .map(drop));
        if let Err(e) = written {
            tracing::warn!(error = %e, "could not record an API token's last use");
        }
    }

    /// The organization's connection settings (defaults when never set),
    /// kept in `org_settings` under [`RESTRICT_SHARED_CONNECTIONS`] and
    /// [`ALLOWED_CONNECTORS`].
    pub async fn connection_settings(
        &self,
        org: OrganizationId,
    ) -> Result<ConnectionSettings, StoreError> {
        let v = self
            .get_settings(
                org,
                &[
                    RESTRICT_SHARED_CONNECTIONS.to_owned(),
                    ALLOWED_CONNECTORS.to_owned(),
                ],
            )
            .await?;
        let value = |key: &str| v.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        let allowed_connectors = match value(ALLOWED_CONNECTORS) {
            Some(json) => serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
                what: "organization setting `allowed_connectors`",
                detail: format!("not a list of connector ids: {e}"),
            })?,
            None => None,
        };
        Ok(ConnectionSettings {
            restrict_shared_connections: value(RESTRICT_SHARED_CONNECTIONS) == Some("true"),
            allowed_connectors,
        })
    }

    /// Saves the organization's connection settings.
    pub async fn set_connection_settings(
        &self,
        org: OrganizationId,
        settings: ConnectionSettings,
    ) -> Result<(), StoreError> {
        let allowed = serde_json::to_string(&settings.allowed_connectors).map_err(|e| {
            StoreError::Corrupt {
                what: "organization setting `allowed_connectors`",
                detail: e.to_string(),
            }
        })?;
        self.put_settings(
            org,
            &[
                (
                    RESTRICT_SHARED_CONNECTIONS.to_owned(),
                    settings.restrict_shared_connections.to_string(),
                ),
                (ALLOWED_CONNECTORS.to_owned(), allowed),
            ],
        )
        .await
    }

    /// Every folder of the tenant (personal and shared).
    pub async fn list_tenant_folders(&self, scope: &Scope) -> Result<Vec<Folder>, StoreError> {
        let sql = format!(
            "SELECT {} FROM folders WHERE org_id = $1 AND tenant_id = $2 ORDER BY id",
            crate::tenancy::FOLDER_COLUMNS
        );
        let rows: Vec<FolderRow> = on_db!(self.db(), pool => sqlx::query_as(&sql)
            .bind(scope.org)
            .bind(scope.tenant)
            .fetch_all(pool)
            .await
            .map_err(StoreError::query("list tenant folders"))?);
        rows.into_iter().map(FolderRow::into_folder).collect()
    }

    /// The members of a shared folder.
    pub async fn folder_members(
        &self,
        scope: &Scope,
        folder: FolderId,
    ) -> Result<Vec<UserId>, StoreError> {
        let ids: Vec<Uuid> = on_db!(self.db(), pool => sqlx::query_scalar(
                "SELECT user_id FROM folder_members WHERE folder_id = $1 AND org_id = $2 AND tenant_id = $3 \
                 ORDER BY added_at, user_id")
            .bind(folder)
            .bind(scope.org)
            .bind(scope.tenant)
            .fetch_all(pool)
            .await
            .map_err(StoreError::query("folder members"))?);
        Ok(ids.into_iter().map(Into::into).collect())
    }

    /// Saves a connection's status, messages, account and granted scopes
    /// in one statement, leaving what people edit (name, polling
    /// frequency, config) and `is_default` as they are now. Returns the
    /// connection as saved.
    pub async fn save_connection_state(
        &self,
        scope: &Scope,
        id: ConnectionId,
        state: &ConnectionState,
    ) -> Result<Connection, StoreError> {
        let scopes = serde_json::to_string(&state.granted_scopes).expect("strings serialize");
        // RETURNING: the caller answers with the row as saved (its new
        // version, and a name someone changed meanwhile), not with what it
        // read before the call it saves the findings of.
        let sql = format!(
            "UPDATE connections SET status = $1, \
             status_message = $2, provider_error = $3, account_id = $4, account_display_name = $5, \
             account_email = $6, granted_scopes = $7, updated_by = $8, updated_at = $9, version = version + 1 \
             WHERE id = $10 AND org_id = $11 AND tenant_id = $12 RETURNING {CONNECTION_COLUMNS}"
        );
        let row: Option<ConnectionRow> = on_db!(self.db(), pool => sqlx::query_as(&sql)
            .bind(state.status.as_str())
            .bind(&state.status_message)
            .bind(&state.provider_error)
            .bind(&state.account_id)
            .bind(&state.account_display_name)
            .bind(&state.account_email)
            .bind(&scopes)
            .bind(state.updated_by)
            .bind(crate::db::to_ms(state.updated_at))
            .bind(id)
            .bind(scope.org)
            .bind(scope.tenant)
            .fetch_optional(pool)
            .await
            .map_err(StoreError::query("save connection"))?);
        let Some(row) = row else {
            return Err(crate::connections::not_found(id));
        };
        self.connection_changed(id);
        row.into_connection()
    }

    /// What uses a connection.
    pub async fn connection_references(
        &self,
        scope: &Scope,
        connection: ConnectionId,
    ) -> Result<Vec<ConnectionReference>, StoreError> {
        let rows: Vec<(String, String, String)> = on_db!(self.db(), pool => sqlx::query_as(
                "SELECT kind, ref_id, name FROM connection_references \
                 WHERE connection_id = $1 AND org_id = $2 AND tenant_id = $3 ORDER BY created_at, kind, ref_id")
            .bind(connection)
            .bind(scope.org)
            .bind(scope.tenant)
            .fetch_all(pool)
            .await
            .map_err(StoreError::query("connection references"))?);
        Ok(rows
            .into_iter()
            .map(|(kind, id, name)| ConnectionReference { kind, id, name })
            .collect())
    }

    /// Records (or renames) a reference to a connection of the tenant.
    pub async fn add_connection_reference(
        &self,
        scope: &Scope,
        connection: ConnectionId,
        reference: &ConnectionReference,
    ) -> Result<(), StoreError> {
        let n = on_db!(self.db(), pool => sqlx::query(
                "INSERT INTO connection_references (connection_id, org_id, tenant_id, kind, ref_id, name, created_at) \
                 SELECT id, org_id, tenant_id, $1, $2, $3, $4 FROM connections \
                 WHERE id = $5 AND org_id = $6 AND tenant_id = $7 \
                 ON CONFLICT (connection_id, kind, ref_id) DO UPDATE SET name = excluded.name")
            .bind(&reference.kind)
            .bind(&reference.id)
            .bind(&reference.name)
            .bind(now_ms())
            .bind(connection)
            .bind(scope.org)
            .bind(scope.tenant)
            .execute(pool)
            .await
            .map_err(StoreError::query("add connection reference"))?
            .rows_affected());
        if n == 0 {
            return Err(crate::connections::not_found(connection));
        }
        Ok(())
    }

    /// Forgets a reference; `Ok(false)` if there was none.
    pub async fn remove_connection_reference(
        &self,
        scope: &Scope,
        connection: ConnectionId,
        kind: &str,
        id: &str,
    ) -> Result<bool, StoreError> {
        let n = on_db!(self.db(), pool => sqlx::query(
                "DELETE FROM connection_references WHERE connection_id = $1 AND org_id = $2 AND tenant_id = $3 \
                 AND kind = $4 AND ref_id = $5")
            .bind(connection)
            .bind(scope.org)
            .bind(scope.tenant)
            .bind(kind)
            .bind(id)
            .execute(pool)
            .await
            .map_err(StoreError::query("remove connection reference"))?
            .rows_affected());
        Ok(n > 0)
    }

    /// Every tenant of every organization (start-up loading of uploaded
    /// components).
    pub async fn all_tenant_scopes(&self) -> Result<Vec<Scope>, StoreError> {
        let rows: Vec<(Uuid, Uuid)> = on_db!(self.db(), pool => sqlx::query_as(
                "SELECT org_id, id FROM tenants ORDER BY created_at, id")
            .fetch_all(pool)
            .await
            .map_err(StoreError::query("list all tenants"))?);
        Ok(rows
            .into_iter()
            .map(|(o, t)| Scope::new(o.into(), t.into()))
            .collect())
    }
}

/// What a check, reconnect or sign-in finds out about a connection, for
/// [`Store::save_connection_state`]. Name, polling frequency and config
/// are not in it: people edit those ([`Store::update_connection`]), and a
/// check that read the row before a rename must not put the old name back.
#[derive(Clone, Debug)]
pub struct ConnectionState {
    /// Status.
    pub status: ConnectionStatus,
    /// Our message.
    pub status_message: Option<String>,
    /// The provider's message.
    pub provider_error: Option<String>,
    /// Provider account id.
    pub account_id: Option<String>,
    /// Provider account display name.
    pub account_display_name: Option<String>,
    /// Provider account e-mail.
    pub account_email: Option<String>,
    /// Scopes granted.
    pub granted_scopes: Vec<String>,
    /// Who changed it.
    pub updated_by: Option<UserId>,
    /// When.
    pub updated_at: OffsetDateTime,
}
