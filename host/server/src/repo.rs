//! What the server needs from persistence, as one small async trait.
//!
//! Handlers and rules talk to [`Repo`]; a backend implements it. Every
//! method that reads or writes tenant data takes the tenant id and must
//! never return another tenant's rows. Secrets go in and out only through
//! the `*_secret*` methods and are stored encrypted by a real backend.
//!
//! [`store::StoreRepo`] is the implementation: SQLite or PostgreSQL through
//! `plugboard-store`, secrets sealed by its vault.

pub mod store;

use async_trait::async_trait;

use crate::config::Redacted;
use crate::model::*;

/// Why a repository call failed.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("storage failed: {0}")]
    Backend(String),
}

pub type RepoResult<T> = Result<T, RepoError>;

/// A connection read with its folder's access facts and, when asked for,
/// one secret slot ([`Repo::connection_for_use`]).
pub struct ConnectionForUse {
    pub connection: Connection,
    pub folder: FolderAccess,
    pub secret: Option<Redacted>,
}

/// How current [`Repo::connection_for_use`]'s answer must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recency {
    /// Read now (the management API: what people see and edit).
    Current,
    /// May be what was read up to the connection cache's TTL ago
    /// (`PLUGBOARD_CONNECTION_CACHE_MS`); a change made through this process
    /// is seen at once, one made by another replica within the TTL. For
    /// calls through the connection, the hot path.
    ForCall,
}

/// The editable fields of a connection; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ConnectionEdit {
    pub name: Option<String>,
    /// `Some(None)` clears the polling frequency.
    pub polling_frequency_seconds: Option<Option<u32>>,
}

/// Filters for listing connections; all optional and combined with AND.
#[derive(Debug, Clone, Default)]
pub struct ConnectionFilter {
    pub folders: Option<Vec<FolderId>>,
    pub connector_id: Option<String>,
    pub status: Option<ConnectionStatus>,
}

/// What first start created.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    pub principal: Principal,
    pub personal_folder: FolderId,
}

#[async_trait]
pub trait Repo: Send + Sync + 'static {
    /// Cheap round trip to the backend (readiness).
    async fn ping(&self) -> RepoResult<()>;

    // ---- identity ----

    /// Whether any user exists (first start creates the admin when not).
    async fn has_users(&self) -> RepoResult<bool>;
    /// Create an organization, a tenant, a user with a personal workspace.
    async fn create_tenant_with_admin(
        &self,
        org_name: &str,
        tenant_name: &str,
        user_name: &str,
    ) -> RepoResult<Bootstrap>;
    /// Create a user (with a personal workspace) in an existing tenant.
    async fn create_user(
        &self,
        tenant: TenantId,
        user_name: &str,
        is_admin: bool,
    ) -> RepoResult<Bootstrap>;
    /// Remember an API token by its SHA-256 (the token itself is never stored).
    async fn add_api_token(&self, user: UserId, token_sha256: &str) -> RepoResult<()>;
    async fn principal_by_token(&self, token_sha256: &str) -> RepoResult<Option<Principal>>;
    /// Remember a named API token of `user` by its SHA-256.
    async fn create_api_token(
        &self,
        user: UserId,
        name: &str,
        token_sha256: &str,
    ) -> RepoResult<ApiToken>;
    /// `user`'s API tokens, oldest first.
    async fn api_tokens(&self, user: UserId) -> RepoResult<Vec<ApiToken>>;
    /// Revoke `user`'s token `id`; refused by [`Repo::principal_by_token`]
    /// at once. [`RepoError::NotFound`] when `user` has no such token.
    async fn revoke_api_token(&self, user: UserId, id: ApiTokenId) -> RepoResult<()>;
    /// Revoke token `id` of any user of `tenant` (administrators), at once;
    /// returns its owner. [`RepoError::NotFound`] when the tenant has none such.
    async fn revoke_tenant_api_token(&self, tenant: TenantId, id: ApiTokenId)
    -> RepoResult<UserId>;
    async fn org_settings(&self, org: OrgId) -> RepoResult<OrgSettings>;
    async fn set_org_settings(&self, org: OrgId, settings: OrgSettings) -> RepoResult<()>;

    // ---- folders ----

    async fn personal_folder(&self, tenant: TenantId, user: UserId) -> RepoResult<Folder>;
    async fn folder(&self, tenant: TenantId, id: FolderId) -> RepoResult<Option<Folder>>;
    async fn folders(&self, tenant: TenantId) -> RepoResult<Vec<Folder>>;
    /// Those of `users` that are not users of the tenant's organization
    /// (checked before a folder's members are written).
    async fn unknown_users(&self, tenant: TenantId, users: &[UserId]) -> RepoResult<Vec<UserId>>;
    async fn create_shared_folder(
        &self,
        tenant: TenantId,
        name: &str,
        members: &[UserId],
    ) -> RepoResult<Folder>;
    async fn set_folder_members(
        &self,
        tenant: TenantId,
        id: FolderId,
        members: &[UserId],
    ) -> RepoResult<Folder>;

    // ---- connections ----

    /// Insert a new connection. If `is_default` is set, other connections of
    /// the same connector in the folder lose the flag in the same step.
    /// Returns the connection as stored (with its version).
    async fn insert_connection(&self, conn: &Connection) -> RepoResult<Connection>;
    async fn connection(
        &self,
        tenant: TenantId,
        id: ConnectionId,
    ) -> RepoResult<Option<Connection>>;
    async fn connections(
        &self,
        tenant: TenantId,
        filter: &ConnectionFilter,
    ) -> RepoResult<Vec<Connection>>;
    /// Connection `id` as a call by `user` needs it, in one round trip:
    /// the row, who may use its folder, and the secret slot `secret` when
    /// given. The caller decides with [`FolderAccess::allows`].
    async fn connection_for_use(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        user: UserId,
        secret: Option<&str>,
        recency: Recency,
    ) -> RepoResult<Option<ConnectionForUse>>;
    /// Save what a check, reconnect or sign-in found (status, messages,
    /// account, granted scopes), leaving what people edit as it is now.
    /// Returns the connection as saved.
    async fn update_connection(&self, conn: &Connection) -> RepoResult<Connection>;
    /// The connection's row version, bumped by every change (the API's
    /// ETag); `None` when there is no such connection.
    async fn connection_version(
        &self,
        tenant: TenantId,
        id: ConnectionId,
    ) -> RepoResult<Option<i64>>;
    /// Apply `edit` (only the fields it gives) by `by`. With
    /// `expected_version`, only if the row is still at that version
    /// ([`RepoError::Conflict`] otherwise, nothing written); without, on
    /// top of the current row, keeping what others changed meanwhile.
    /// Returns the connection as saved.
    async fn edit_connection(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        edit: &ConnectionEdit,
        by: UserId,
        expected_version: Option<i64>,
    ) -> RepoResult<Connection>;
    /// Make `id` the one default of its connector in its folder, atomically.
    async fn set_default(&self, tenant: TenantId, id: ConnectionId) -> RepoResult<()>;
    /// Delete the connection, its secrets and references.
    async fn delete_connection(&self, tenant: TenantId, id: ConnectionId) -> RepoResult<()>;

    // ---- secrets of a connection (encrypted at rest by real backends) ----

    async fn put_secret(
        &self,
        tenant: TenantId,
        conn: ConnectionId,
        field: &str,
        value: Redacted,
    ) -> RepoResult<()>;
    async fn secret(
        &self,
        tenant: TenantId,
        conn: ConnectionId,
        field: &str,
    ) -> RepoResult<Option<Redacted>>;
    async fn delete_secret(
        &self,
        tenant: TenantId,
        conn: ConnectionId,
        field: &str,
    ) -> RepoResult<()>;

    // ---- references ----

    async fn references(&self, tenant: TenantId, conn: ConnectionId) -> RepoResult<Vec<Reference>>;
    async fn add_reference(
        &self,
        tenant: TenantId,
        conn: ConnectionId,
        reference: Reference,
    ) -> RepoResult<()>;
    async fn remove_reference(
        &self,
        tenant: TenantId,
        conn: ConnectionId,
        kind: &str,
        id: &str,
    ) -> RepoResult<()>;

    // ---- custom components ----

    async fn put_component(&self, component: StoredComponent) -> RepoResult<()>;
    async fn components(&self, tenant: Option<TenantId>) -> RepoResult<Vec<StoredComponent>>;
    async fn delete_component(&self, tenant: TenantId, connector_id: &str) -> RepoResult<()>;

    // ---- audit ----

    async fn audit(&self, event: AuditEvent) -> RepoResult<()>;
    async fn audit_events(&self, tenant: TenantId, limit: usize) -> RepoResult<Vec<AuditEvent>>;
}
