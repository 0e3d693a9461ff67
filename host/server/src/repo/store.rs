//! [`Repo`] over [`plugboard_store::Store`]: SQLite (a file in the data
//! directory) or PostgreSQL. Everything persists across restarts; secrets
//! go in and out only through the store's sealed connector-secret slots
//! (encrypted by the vault), API tokens only as their SHA-256.
//!
//! The server's ids are the store's UUIDs; a tenant id is turned into the
//! store's [`Scope`] (organization + tenant) once and cached, and every
//! call then runs in that scope.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use plugboard_store::{self as st, Scope, Store, StoreError};
use time::OffsetDateTime;

use super::{
    Bootstrap, ConnectionEdit, ConnectionFilter, ConnectionForUse, Recency, Repo, RepoError,
    RepoResult,
};
use crate::config::Redacted;
use crate::model::*;

/// A secret slot's bytes as text (every slot the server writes is text).
fn redacted_text(field: &str, bytes: &st::SecretBytes) -> RepoResult<Redacted> {
    let s = std::str::from_utf8(bytes.expose())
        .map_err(|_| RepoError::Backend(format!("secret `{field}` is not UTF-8")))?;
    Ok(Redacted::new(s))
}

fn folder_kind(kind: st::FolderKind) -> FolderKind {
    match kind {
        st::FolderKind::Shared => FolderKind::Shared,
        _ => FolderKind::Personal,
    }
}

/// The durable repository.
pub struct StoreRepo {
    store: Store,
    scopes: Mutex<HashMap<TenantId, Scope>>,
}

impl StoreRepo {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            scopes: Mutex::new(HashMap::new()),
        }
    }

    async fn scope(&self, tenant: TenantId) -> RepoResult<Scope> {
        if let Some(s) = self
            .scopes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&tenant)
        {
            return Ok(*s);
        }
        let scope = self
            .store
            .tenant_scope(st::TenantId(tenant.0))
            .await
            .map_err(err)?
            .ok_or(RepoError::NotFound)?;
        self.scopes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(tenant, scope);
        Ok(scope)
    }

    async fn folder_of(&self, scope: &Scope, f: st::Folder) -> RepoResult<Folder> {
        let members = match f.kind {
            st::FolderKind::Shared => self
                .store
                .folder_members(scope, f.id)
                .await
                .map_err(err)?
                .into_iter()
                .map(|u| UserId(u.0))
                .collect(),
            _ => vec![],
        };
        Ok(Folder {
            id: FolderId(f.id.0),
            tenant_id: TenantId(f.scope.tenant.0),
            name: f.name,
            kind: folder_kind(f.kind),
            owner: f.owner.map(|u| UserId(u.0)),
            members,
        })
    }

    /// The server's model of a store connection row (no database read).
    pub(crate) fn connection_of(c: st::Connection) -> RepoResult<Connection> {
        // Read with the row: one query per connection read, not two.
        let email = c.account_email.clone();
        let auth_kind = serde_json::from_value(serde_json::Value::String(c.auth_kind.clone()))
            .map_err(|e| RepoError::Backend(format!("stored auth kind `{}`: {e}", c.auth_kind)))?;
        let config: Vec<(String, String)> = serde_json::from_value(c.config.clone())
            .map_err(|e| RepoError::Backend(format!("stored connection config: {e}")))?;
        let account = c.account_id.clone().map(|id| Account {
            id,
            display_name: c.account_display_name.clone().unwrap_or_default(),
            email,
        });
        let created_by = c
            .created_by
            .map(|u| UserId(u.0))
            .unwrap_or(UserId(uuid::Uuid::nil()));
        Ok(Connection {
            id: ConnectionId(c.id.0),
            org_id: OrgId(c.scope.org.0),
            tenant_id: TenantId(c.scope.tenant.0),
            folder_id: FolderId(c.folder.0),
            connector_id: c.connector,
            auth_kind,
            name: c.name,
            account,
            status: status_from(c.status),
            status_message: c.status_message,
            provider_error: c.provider_error,
            polling_frequency_seconds: c
                .polling_frequency_seconds
                .and_then(|p| u32::try_from(p).ok()),
            is_default: c.is_default,
            granted_scopes: c.granted_scopes,
            config,
            created_by,
            updated_by: c.updated_by.map(|u| UserId(u.0)).unwrap_or(created_by),
            created_at: c.created_at,
            updated_at: c.updated_at,
            version: c.version,
        })
    }

    async fn bootstrap(
        &self,
        scope: Scope,
        user: st::User,
        is_admin: bool,
    ) -> RepoResult<Bootstrap> {
        self.store
            .add_tenant_user(&scope, user.id, is_admin)
            .await
            .map_err(err)?;
        let folder = self
            .store
            .personal_folder(&scope, user.id)
            .await
            .map_err(err)?;
        Ok(Bootstrap {
            principal: Principal {
                org_id: OrgId(scope.org.0),
                tenant_id: TenantId(scope.tenant.0),
                user_id: UserId(user.id.0),
                user_name: user.user_name,
                is_admin,
            },
            personal_folder: FolderId(folder.id.0),
        })
    }
}

/// The server's principal for the owner of an API token or console session.
pub(crate) fn principal_of(o: st::TokenOwner) -> Principal {
    Principal {
        org_id: OrgId(o.scope.org.0),
        tenant_id: TenantId(o.scope.tenant.0),
        user_id: UserId(o.user.0),
        user_name: o.user_name,
        is_admin: o.is_admin,
    }
}

fn api_token_of(t: st::ApiToken) -> ApiToken {
    ApiToken {
        id: ApiTokenId(t.id.0),
        user_id: UserId(t.user.0),
        name: t.name,
        created_at: t.created_at,
        last_used_at: t.last_used_at,
    }
}

fn err(e: StoreError) -> RepoError {
    match e {
        e if e.is_not_found() => RepoError::NotFound,
        e @ (StoreError::Conflict { .. }
        | StoreError::Duplicate { .. }
        | StoreError::InUse { .. }) => RepoError::Conflict(e.to_string()),
        e => RepoError::Backend(e.to_string()),
    }
}

fn status_to(s: ConnectionStatus) -> st::ConnectionStatus {
    match s {
        ConnectionStatus::Pending => st::ConnectionStatus::Pending,
        ConnectionStatus::Connected => st::ConnectionStatus::Connected,
        ConnectionStatus::Disconnected => st::ConnectionStatus::Disconnected,
    }
}

fn status_from(s: st::ConnectionStatus) -> ConnectionStatus {
    match s {
        st::ConnectionStatus::Pending => ConnectionStatus::Pending,
        st::ConnectionStatus::Connected => ConnectionStatus::Connected,
        _ => ConnectionStatus::Disconnected,
    }
}

fn auth_kind_str(k: plugboard_manifest::AuthKind) -> String {
    match serde_json::to_value(k) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{k:?}"),
    }
}

fn config_json(c: &Connection) -> serde_json::Value {
    serde_json::to_value(&c.config).unwrap_or(serde_json::Value::Array(vec![]))
}

fn state_of(c: &Connection) -> st::ConnectionState {
    st::ConnectionState {
        status: status_to(c.status),
        status_message: c.status_message.clone(),
        provider_error: c.provider_error.clone(),
        account_id: c.account.as_ref().map(|a| a.id.clone()),
        account_display_name: c.account.as_ref().map(|a| a.display_name.clone()),
        account_email: c.account.as_ref().and_then(|a| a.email.clone()),
        granted_scopes: c.granted_scopes.clone(),
        updated_by: Some(st::UserId(c.updated_by.0)),
        updated_at: c.updated_at,
    }
}

#[async_trait]
impl Repo for StoreRepo {
    async fn ping(&self) -> RepoResult<()> {
        self.store.ping().await.map_err(err)
    }

    async fn has_users(&self) -> RepoResult<bool> {
        self.store.has_users().await.map_err(err)
    }

    async fn create_tenant_with_admin(
        &self,
        org_name: &str,
        tenant_name: &str,
        user_name: &str,
    ) -> RepoResult<Bootstrap> {
        let org = self
            .store
            .create_organization(org_name)
            .await
            .map_err(err)?;
        let tenant = self
            .store
            .create_tenant(org.id, tenant_name)
            .await
            .map_err(err)?;
        let user = self
            .store
            .create_user(org.id, user_name, user_name, None)
            .await
            .map_err(err)?;
        self.bootstrap(tenant.scope(), user, true).await
    }

    async fn create_user(
        &self,
        tenant: TenantId,
        user_name: &str,
        is_admin: bool,
    ) -> RepoResult<Bootstrap> {
        let scope = self.scope(tenant).await?;
        let user = self
            .store
            .create_user(scope.org, user_name, user_name, None)
            .await
            .map_err(err)?;
        self.bootstrap(scope, user, is_admin).await
    }

    async fn add_api_token(&self, user: UserId, token_sha256: &str) -> RepoResult<()> {
        self.store
            .add_api_token(st::UserId(user.0), token_sha256)
            .await
            .map_err(err)
    }

    async fn principal_by_token(&self, token_sha256: &str) -> RepoResult<Option<Principal>> {
        Ok(self
            .store
            .token_owner(token_sha256)
            .await
            .map_err(err)?
            .map(principal_of))
    }

    async fn create_api_token(
        &self,
        user: UserId,
        name: &str,
        token_sha256: &str,
    ) -> RepoResult<ApiToken> {
        self.store
            .create_api_token(st::UserId(user.0), name, token_sha256)
            .await
            .map(api_token_of)
            .map_err(err)
    }

    async fn api_tokens(&self, user: UserId) -> RepoResult<Vec<ApiToken>> {
        let tokens = self
            .store
            .list_api_tokens(st::UserId(user.0))
            .await
            .map_err(err)?;
        Ok(tokens.into_iter().map(api_token_of).collect())
    }

    async fn revoke_api_token(&self, user: UserId, id: ApiTokenId) -> RepoResult<()> {
        let found = self
            .store
            .delete_api_token(st::UserId(user.0), st::ApiTokenId(id.0))
            .await
            .map_err(err)?;
        found.then_some(()).ok_or(RepoError::NotFound)
    }

    async fn revoke_tenant_api_token(
        &self,
        tenant: TenantId,
        id: ApiTokenId,
    ) -> RepoResult<UserId> {
        let scope = self.scope(tenant).await?;
        let owner = self
            .store
            .delete_tenant_api_token(&scope, st::ApiTokenId(id.0))
            .await
            .map_err(err)?;
        owner.map(|u| UserId(u.0)).ok_or(RepoError::NotFound)
    }

    async fn org_settings(&self, org: OrgId) -> RepoResult<OrgSettings> {
        let s = self
            .store
            .connection_settings(st::OrganizationId(org.0))
            .await
            .map_err(err)?;
        Ok(OrgSettings {
            restrict_shared_connections: s.restrict_shared_connections,
            allowed_connectors: s.allowed_connectors,
        })
    }

    async fn set_org_settings(&self, org: OrgId, settings: OrgSettings) -> RepoResult<()> {
        self.store
            .set_connection_settings(
                st::OrganizationId(org.0),
                st::ConnectionSettings {
                    restrict_shared_connections: settings.restrict_shared_connections,
                    allowed_connectors: settings.allowed_connectors,
                },
            )
            .await
            .map_err(err)
    }

    async fn personal_folder(&self, tenant: TenantId, user: UserId) -> RepoResult<Folder> {
        let scope = self.scope(tenant).await?;
        let f = self
            .store
            .personal_folder(&scope, st::UserId(user.0))
            .await
            .map_err(err)?;
        self.folder_of(&scope, f).await
    }

    async fn folder(&self, tenant: TenantId, id: FolderId) -> RepoResult<Option<Folder>> {
        let scope = self.scope(tenant).await?;
        match self
            .store
            .get_folder(&scope, st::FolderId(id.0))
            .await
            .map_err(err)?
        {
            Some(f) => Ok(Some(self.folder_of(&scope, f).await?)),
            None => Ok(None),
        }
    }

    async fn folders(&self, tenant: TenantId) -> RepoResult<Vec<Folder>> {
        let scope = self.scope(tenant).await?;
        let mut out = vec![];
        for f in self.store.list_tenant_folders(&scope).await.map_err(err)? {
            out.push(self.folder_of(&scope, f).await?);
        }
        Ok(out)
    }

    async fn unknown_users(&self, tenant: TenantId, users: &[UserId]) -> RepoResult<Vec<UserId>> {
        let scope = self.scope(tenant).await?;
        let mut unknown = vec![];
        for u in users {
            if self
                .store
                .get_user(scope.org, st::UserId(u.0))
                .await
                .map_err(err)?
                .is_none()
            {
                unknown.push(*u);
            }
        }
        Ok(unknown)
    }

    async fn create_shared_folder(
        &self,
        tenant: TenantId,
        name: &str,
        members: &[UserId],
    ) -> RepoResult<Folder> {
        let scope = self.scope(tenant).await?;
        let f = self
            .store
            .create_shared_folder(&scope, name, None)
            .await
            .map_err(|e| match e {
                StoreError::Duplicate { .. } => {
                    RepoError::Conflict(format!("a shared folder named `{name}` already exists"))
                }
                e => err(e),
            })?;
        for m in members {
            self.store
                .add_folder_member(&scope, f.id, st::UserId(m.0), "member")
                .await
                .map_err(err)?;
        }
        self.folder_of(&scope, f).await
    }

    async fn set_folder_members(
        &self,
        tenant: TenantId,
        id: FolderId,
        members: &[UserId],
    ) -> RepoResult<Folder> {
        let scope = self.scope(tenant).await?;
        let fid = st::FolderId(id.0);
        let f = self
            .store
            .get_folder(&scope, fid)
            .await
            .map_err(err)?
            .ok_or(RepoError::NotFound)?;
        let current = self.store.folder_members(&scope, fid).await.map_err(err)?;
        for u in &current {
            if !members.iter().any(|m| m.0 == u.0) {
                self.store
                    .remove_folder_member(&scope, fid, *u)
                    .await
                    .map_err(err)?;
            }
        }
        for m in members {
            if !current.iter().any(|u| u.0 == m.0) {
                self.store
                    .add_folder_member(&scope, fid, st::UserId(m.0), "member")
                    .await
                    .map_err(err)?;
            }
        }
        self.folder_of(&scope, f).await
    }

    async fn insert_connection(&self, conn: &Connection) -> RepoResult<Connection> {
        let scope = self.scope(conn.tenant_id).await?;
        let id = st::ConnectionId(conn.id.0);
        let new = st::NewConnection {
            folder: st::FolderId(conn.folder_id.0),
            connector: conn.connector_id.clone(),
            auth_kind: auth_kind_str(conn.auth_kind),
            name: conn.name.clone(),
            status: status_to(conn.status),
            config: config_json(conn),
            polling_frequency_seconds: conn.polling_frequency_seconds.map(i64::from),
            make_default: conn.is_default,
            created_by: Some(st::UserId(conn.created_by.0)),
        };
        self.store
            .create_connection_with_id(&scope, id, new)
            .await
            .map_err(err)?;
        let saved = self
            .store
            .save_connection_state(&scope, id, &state_of(conn))
            .await
            .map_err(err)?;
        Self::connection_of(saved)
    }

    async fn connection(
        &self,
        tenant: TenantId,
        id: ConnectionId,
    ) -> RepoResult<Option<Connection>> {
        let scope = self.scope(tenant).await?;
        match self
            .store
            .get_connection(&scope, st::ConnectionId(id.0))
            .await
            .map_err(err)?
        {
            Some(c) => Ok(Some(Self::connection_of(c)?)),
            None => Ok(None),
        }
    }

    async fn connections(
        &self,
        tenant: TenantId,
        filter: &ConnectionFilter,
    ) -> RepoResult<Vec<Connection>> {
        let scope = self.scope(tenant).await?;
        let f = st::ConnectionFilter {
            folders: filter
                .folders
                .as_ref()
                .map(|fs| fs.iter().map(|f| st::FolderId(f.0)).collect()),
            connector: filter.connector_id.clone(),
            status: filter.status.map(status_to),
            name_contains: None,
        };
        let mut out = vec![];
        for c in self.store.list_connections(&scope, &f).await.map_err(err)? {
            out.push(Self::connection_of(c)?);
        }
        out.sort_by_key(|c| c.id);
        Ok(out)
    }

    async fn connection_for_use(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        user: UserId,
        secret: Option<&str>,
        recency: Recency,
    ) -> RepoResult<Option<ConnectionForUse>> {
        let scope = self.scope(tenant).await?;
        let (id, user_id) = (st::ConnectionId(id.0), st::UserId(user.0));
        let found = match recency {
            Recency::Current => {
                self.store
                    .connection_for_use(&scope, id, user_id, secret)
                    .await
            }
            Recency::ForCall => {
                self.store
                    .connection_for_call(&scope, id, user_id, secret)
                    .await
            }
        };
        let Some(found) = found.map_err(err)? else {
            return Ok(None);
        };
        let secret = match (&found.secret, secret) {
            (Some(bytes), Some(field)) => Some(redacted_text(field, bytes)?),
            _ => None,
        };
        Ok(Some(ConnectionForUse {
            folder: FolderAccess {
                tenant_id: tenant,
                kind: folder_kind(found.folder_kind),
                owner: found.folder_owner.map(|u| UserId(u.0)),
                member: found.user_is_member.then_some(user),
            },
            connection: Self::connection_of(found.connection)?,
            secret,
        }))
    }

    async fn update_connection(&self, conn: &Connection) -> RepoResult<Connection> {
        let scope = self.scope(conn.tenant_id).await?;
        let saved = self
            .store
            .save_connection_state(&scope, st::ConnectionId(conn.id.0), &state_of(conn))
            .await
            .map_err(err)?;
        Self::connection_of(saved)
    }

    async fn connection_version(
        &self,
        tenant: TenantId,
        id: ConnectionId,
    ) -> RepoResult<Option<i64>> {
        let scope = self.scope(tenant).await?;
        Ok(self
            .store
            .get_connection(&scope, st::ConnectionId(id.0))
            .await
            .map_err(err)?
            .map(|c| c.version))
    }

    async fn edit_connection(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        edit: &ConnectionEdit,
        by: UserId,
        expected_version: Option<i64>,
    ) -> RepoResult<Connection> {
        let scope = self.scope(tenant).await?;
        let patch = st::ConnectionPatch {
            name: edit.name.clone(),
            polling_frequency_seconds: edit.polling_frequency_seconds.map(|p| p.map(i64::from)),
            config: None,
        };
        let saved = self
            .store
            .update_connection(
                &scope,
                st::ConnectionId(id.0),
                &patch,
                expected_version,
                Some(st::UserId(by.0)),
            )
            .await
            .map_err(err)?;
        Self::connection_of(saved)
    }

    async fn set_default(&self, tenant: TenantId, id: ConnectionId) -> RepoResult<()> {
        let scope = self.scope(tenant).await?;
        self.store
            .set_default_connection(&scope, st::ConnectionId(id.0), None)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn delete_connection(&self, tenant: TenantId, id: ConnectionId) -> RepoResult<()> {
        let scope = self.scope(tenant).await?;
        if self
            .store
            .delete_connection(&scope, st::ConnectionId(id.0))
            .await
            .map_err(err)?
        {
            Ok(())
        } else {
            Err(RepoError::NotFound)
        }
    }

    async fn put_secret(
        &self,
        tenant: TenantId,
        conn: ConnectionId,
        field: &str,
        value: Redacted,
    ) -> RepoResult<()> {
        let scope = self.scope(tenant).await?;
        self.store
            .put_connector_secret(
                &scope,
                st::ConnectionId(conn.0),
                field,
                value.expose().as_bytes(),
            )
            .await
            .map_err(err)
    }

    async fn secret(
        &self,
        tenant: TenantId,
        conn: ConnectionId,
        field: &str,
    ) -> RepoResult<Option<Redacted>> {
        let scope = self.scope(tenant).await?;
        let Some(bytes) = self
            .store
            .get_connector_secret(&scope, st::ConnectionId(conn.0), field)
            .await
            .map_err(err)?
        else {
            return Ok(None);
        };
        redacted_text(field, &bytes).map(Some)
    }

    async fn delete_secret(
        &self,
        tenant: TenantId,
        conn: ConnectionId,
        field: &str,
    ) -> RepoResult<()> {
        let scope = self.scope(tenant).await?;
        self.store
            .delete_connector_secret(&scope, st::ConnectionId(conn.0), field)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn references(&self, tenant: TenantId, conn: ConnectionId) -> RepoResult<Vec<Reference>> {
        let scope = self.scope(tenant).await?;
        Ok(self
            .store
            .connection_references(&scope, st::ConnectionId(conn.0))
            .await
            .map_err(err)?
            .into_iter()
            .map(|r| Reference {
                kind: r.kind,
                id: r.id,
                name: r.name,
            })
            .collect())
    }

    async fn add_reference(
        &self,
        tenant: TenantId,
        conn: ConnectionId,
        reference: Reference,
    ) -> RepoResult<()> {
        let scope = self.scope(tenant).await?;
        self.store
            .add_connection_reference(
                &scope,
                st::ConnectionId(conn.0),
                &st::ConnectionReference {
                    kind: reference.kind,
                    id: reference.id,
                    name: reference.name,
                },
            )
            .await
            .map_err(err)
    }

    async fn remove_reference(
        &self,
        tenant: TenantId,
        conn: ConnectionId,
        kind: &str,
        id: &str,
    ) -> RepoResult<()> {
        let scope = self.scope(tenant).await?;
        self.store
            .remove_connection_reference(&scope, st::ConnectionId(conn.0), kind, id)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn put_component(&self, component: StoredComponent) -> RepoResult<()> {
        let scope = self.scope(component.tenant_id).await?;
        for old in self.store.list_connectors(&scope).await.map_err(err)? {
            if old.connector == component.connector_id {
                self.store
                    .delete_connector(&scope, old.id)
                    .await
                    .map_err(err)?;
            }
        }
        self.store
            .register_connector(
                &scope,
                st::NewConnector {
                    connector: &component.connector_id,
                    version: &component.version,
                    origin: st::ConnectorOrigin::Uploaded,
                    component: &component.bytes,
                    created_by: Some(st::UserId(component.uploaded_by.0)),
                },
            )
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn components(&self, tenant: Option<TenantId>) -> RepoResult<Vec<StoredComponent>> {
        let scopes = match tenant {
            Some(t) => vec![self.scope(t).await?],
            None => self.store.all_tenant_scopes().await.map_err(err)?,
        };
        let mut out = vec![];
        for scope in scopes {
            for rec in self.store.list_connectors(&scope).await.map_err(err)? {
                if rec.origin != st::ConnectorOrigin::Uploaded {
                    continue;
                }
                let Some(bytes) = self
                    .store
                    .connector_component(&scope, rec.id)
                    .await
                    .map_err(err)?
                else {
                    continue;
                };
                out.push(StoredComponent {
                    tenant_id: TenantId(scope.tenant.0),
                    connector_id: rec.connector,
                    version: rec.version,
                    content_hash: rec.content_hash,
                    bytes: std::sync::Arc::new(bytes),
                    uploaded_by: rec
                        .created_by
                        .map(|u| UserId(u.0))
                        .unwrap_or(UserId(uuid::Uuid::nil())),
                    uploaded_at: rec.created_at,
                });
            }
        }
        Ok(out)
    }

    async fn delete_component(&self, tenant: TenantId, connector_id: &str) -> RepoResult<()> {
        let scope = self.scope(tenant).await?;
        let mut found = false;
        for rec in self.store.list_connectors(&scope).await.map_err(err)? {
            if rec.connector == connector_id && rec.origin == st::ConnectorOrigin::Uploaded {
                found |= self
                    .store
                    .delete_connector(&scope, rec.id)
                    .await
                    .map_err(err)?;
            }
        }
        if found {
            Ok(())
        } else {
            Err(RepoError::NotFound)
        }
    }

    async fn audit(&self, event: AuditEvent) -> RepoResult<()> {
        let scope = self.scope(event.tenant_id).await?;
        self.store
            .record_audit(
                scope.org,
                st::NewAuditEvent {
                    tenant: Some(scope.tenant),
                    actor: event.actor.to_string(),
                    action: event.action,
                    target_kind: None,
                    target_id: Some(event.target),
                    outcome: "ok".into(),
                    details: serde_json::json!({
                        "source": event.source,
                        "request_id": event.request_id,
                        "at": event.at.unix_timestamp_nanos().to_string(),
                    }),
                },
            )
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn audit_events(&self, tenant: TenantId, limit: usize) -> RepoResult<Vec<AuditEvent>> {
        let scope = self.scope(tenant).await?;
        let events = self
            .store
            .list_audit(
                scope.org,
                &st::AuditFilter {
                    tenant: Some(scope.tenant),
                    limit: Some(i64::try_from(limit).unwrap_or(i64::MAX)),
                    ..Default::default()
                },
            )
            .await
            .map_err(err)?;
        Ok(events
            .into_iter()
            .map(|e| {
                let str_of = |k: &str| {
                    e.details
                        .get(k)
                        .and_then(serde_json::Value::as_str)
                        .map(str::to_string)
                };
                let at = str_of("at")
                    .and_then(|s| s.parse::<i128>().ok())
                    .and_then(|n| OffsetDateTime::from_unix_timestamp_nanos(n).ok())
                    .unwrap_or(e.created_at);
                AuditEvent {
                    at,
                    actor: e.actor.parse().unwrap_or(UserId(uuid::Uuid::nil())),
                    tenant_id: tenant,
                    action: e.action.clone(),
                    target: e.target_id.clone().unwrap_or_default(),
                    source: str_of("source"),
                    request_id: str_of("request_id"),
                }
            })
            .collect())
    }
}
