//! In-process [`Repo`]: a mutex around plain maps. Not durable; used by
//! tests and as the fallback while no database backend is wired. Tenant
//! checks are the same as a real backend's: every lookup filters on tenant.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{Bootstrap, ConnectionFilter, Repo, RepoError, RepoResult};
use crate::config::Redacted;
use crate::model::*;

#[derive(Default)]
struct State {
    orgs: HashMap<OrgId, OrgSettings>,
    tenants: HashMap<TenantId, OrgId>,
    users: HashMap<UserId, (TenantId, String, bool)>,
    tokens: HashMap<String, UserId>,
    folders: HashMap<FolderId, Folder>,
    connections: HashMap<ConnectionId, Connection>,
    secrets: HashMap<(TenantId, ConnectionId, String), Redacted>,
    references: HashMap<(TenantId, ConnectionId), Vec<Reference>>,
    pending: HashMap<String, PendingAuthorization>,
    components: Vec<StoredComponent>,
    audit: Vec<AuditEvent>,
}

#[derive(Default)]
pub struct MemoryRepo {
    state: Mutex<State>,
}

impl MemoryRepo {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn new_user(s: &mut State, tenant: TenantId, name: &str, is_admin: bool) -> Bootstrap {
    let user = UserId::new();
    s.users.insert(user, (tenant, name.to_string(), is_admin));
    let folder = Folder {
        id: FolderId::new(),
        tenant_id: tenant,
        name: format!("{name}'s workspace"),
        kind: FolderKind::Personal,
        owner: Some(user),
        members: vec![],
    };
    let personal_folder = folder.id;
    s.folders.insert(folder.id, folder);
    Bootstrap {
        principal: Principal {
            org_id: s.tenants[&tenant],
            tenant_id: tenant,
            user_id: user,
            user_name: name.to_string(),
            is_admin,
        },
        personal_folder,
    }
}

#[async_trait]
impl Repo for MemoryRepo {
    async fn ping(&self) -> RepoResult<()> {
        Ok(())
    }

    async fn has_users(&self) -> RepoResult<bool> {
        Ok(!self.lock().users.is_empty())
    }

    async fn create_tenant_with_admin(
        &self,
        _org_name: &str,
        _tenant_name: &str,
        user_name: &str,
    ) -> RepoResult<Bootstrap> {
        let mut s = self.lock();
        let org = OrgId::new();
        s.orgs.insert(org, OrgSettings::default());
        let tenant = TenantId::new();
        s.tenants.insert(tenant, org);
        Ok(new_user(&mut s, tenant, user_name, true))
    }

    async fn create_user(
        &self,
        tenant: TenantId,
        user_name: &str,
        is_admin: bool,
    ) -> RepoResult<Bootstrap> {
        let mut s = self.lock();
        if !s.tenants.contains_key(&tenant) {
            return Err(RepoError::NotFound);
        }
        Ok(new_user(&mut s, tenant, user_name, is_admin))
    }

    async fn add_api_token(&self, user: UserId, token_sha256: &str) -> RepoResult<()> {
        self.lock().tokens.insert(token_sha256.to_string(), user);
        Ok(())
    }

    async fn principal_by_token(&self, token_sha256: &str) -> RepoResult<Option<Principal>> {
        let s = self.lock();
        let Some(user) = s.tokens.get(token_sha256) else {
            return Ok(None);
        };
        let (tenant, name, is_admin) = s.users[user].clone();
        Ok(Some(Principal {
            org_id: s.tenants[&tenant],
            tenant_id: tenant,
            user_id: *user,
            user_name: name,
            is_admin,
        }))
    }

    async fn org_settings(&self, org: OrgId) -> RepoResult<OrgSettings> {
        Ok(self.lock().orgs.get(&org).cloned().unwrap_or_default())
    }

    async fn set_org_settings(&self, org: OrgId, settings: OrgSettings) -> RepoResult<()> {
        self.lock().orgs.insert(org, settings);
        Ok(())
    }

    async fn personal_folder(&self, tenant: TenantId, user: UserId) -> RepoResult<Folder> {
        self.lock()
            .folders
            .values()
            .find(|f| {
                f.tenant_id == tenant && f.kind == FolderKind::Personal && f.owner == Some(user)
            })
            .cloned()
            .ok_or(RepoError::NotFound)
    }

    async fn folder(&self, tenant: TenantId, id: FolderId) -> RepoResult<Option<Folder>> {
        Ok(self
            .lock()
            .folders
            .get(&id)
            .filter(|f| f.tenant_id == tenant)
            .cloned())
    }

    async fn folders(&self, tenant: TenantId) -> RepoResult<Vec<Folder>> {
        let mut v: Vec<Folder> = self
            .lock()
            .folders
            .values()
            .filter(|f| f.tenant_id == tenant)
            .cloned()
            .collect();
        v.sort_by_key(|f| f.id);
        Ok(v)
    }

    async fn create_shared_folder(
        &self,
        tenant: TenantId,
        name: &str,
        members: &[UserId],
    ) -> RepoResult<Folder> {
        let mut s = self.lock();
        if s.folders
            .values()
            .any(|f| f.tenant_id == tenant && f.kind == FolderKind::Shared && f.name == name)
        {
            return Err(RepoError::Conflict(format!(
                "a shared folder named `{name}` already exists"
            )));
        }
        let folder = Folder {
            id: FolderId::new(),
            tenant_id: tenant,
            name: name.to_string(),
            kind: FolderKind::Shared,
            owner: None,
            members: members.to_vec(),
        };
        s.folders.insert(folder.id, folder.clone());
        Ok(folder)
    }

    async fn set_folder_members(
        &self,
        tenant: TenantId,
        id: FolderId,
        members: &[UserId],
    ) -> RepoResult<Folder> {
        let mut s = self.lock();
        let f = s
            .folders
            .get_mut(&id)
            .filter(|f| f.tenant_id == tenant)
            .ok_or(RepoError::NotFound)?;
        f.members = members.to_vec();
        Ok(f.clone())
    }

    async fn insert_connection(&self, conn: &Connection) -> RepoResult<()> {
        let mut s = self.lock();
        if conn.is_default {
            for c in s.connections.values_mut() {
                if c.tenant_id == conn.tenant_id
                    && c.folder_id == conn.folder_id
                    && c.connector_id == conn.connector_id
                {
                    c.is_default = false;
                }
            }
        }
        s.connections.insert(conn.id, conn.clone());
        Ok(())
    }

    async fn connection(
        &self,
        tenant: TenantId,
        id: ConnectionId,
    ) -> RepoResult<Option<Connection>> {
        Ok(self
            .lock()
            .connections
            .get(&id)
            .filter(|c| c.tenant_id == tenant)
            .cloned())
    }

    async fn connections(
        &self,
        tenant: TenantId,
        filter: &ConnectionFilter,
    ) -> RepoResult<Vec<Connection>> {
        let mut v: Vec<Connection> = self
            .lock()
            .connections
            .values()
            .filter(|c| c.tenant_id == tenant)
            .filter(|c| {
                filter
                    .folders
                    .as_ref()
                    .is_none_or(|fs| fs.contains(&c.folder_id))
            })
            .filter(|c| {
                filter
                    .connector_id
                    .as_ref()
                    .is_none_or(|id| &c.connector_id == id)
            })
            .filter(|c| filter.status.is_none_or(|st| c.status == st))
            .cloned()
            .collect();
        v.sort_by_key(|c| c.id);
        Ok(v)
    }

    async fn update_connection(&self, conn: &Connection) -> RepoResult<()> {
        let mut s = self.lock();
        match s.connections.get_mut(&conn.id) {
            Some(c) if c.tenant_id == conn.tenant_id => {
                let was_default = c.is_default;
                *c = conn.clone();
                c.is_default = was_default;
                Ok(())
            }
            _ => Err(RepoError::NotFound),
        }
    }

    async fn set_default(&self, tenant: TenantId, id: ConnectionId) -> RepoResult<()> {
        let mut s = self.lock();
        let (folder, connector) = match s.connections.get(&id) {
            Some(c) if c.tenant_id == tenant => (c.folder_id, c.connector_id.clone()),
            _ => return Err(RepoError::NotFound),
        };
        let now = OffsetDateTime::now_utc();
        for c in s.connections.values_mut() {
            if c.tenant_id == tenant && c.folder_id == folder && c.connector_id == connector {
                let want = c.id == id;
                if c.is_default != want {
                    c.is_default = want;
                    c.updated_at = now;
                }
            }
        }
        Ok(())
    }

    async fn delete_connection(&self, tenant: TenantId, id: ConnectionId) -> RepoResult<()> {
        let mut s = self.lock();
        match s.connections.get(&id) {
            Some(c) if c.tenant_id == tenant => {}
            _ => return Err(RepoError::NotFound),
        }
        s.connections.remove(&id);
        s.secrets.retain(|(t, c, _), _| !(*t == tenant && *c == id));
        s.references.remove(&(tenant, id));
        s.pending.retain(|_, p| p.connection_id != id);
        Ok(())
    }

    async fn put_secret(
        &self,
        tenant: TenantId,
        conn: ConnectionId,
        field: &str,
        value: Redacted,
    ) -> RepoResult<()> {
        self.lock()
            .secrets
            .insert((tenant, conn, field.to_string()), value);
        Ok(())
    }

    async fn secret(
        &self,
        tenant: TenantId,
        conn: ConnectionId,
        field: &str,
    ) -> RepoResult<Option<Redacted>> {
        Ok(self
            .lock()
            .secrets
            .get(&(tenant, conn, field.to_string()))
            .cloned())
    }

    async fn delete_secret(
        &self,
        tenant: TenantId,
        conn: ConnectionId,
        field: &str,
    ) -> RepoResult<()> {
        self.lock()
            .secrets
            .remove(&(tenant, conn, field.to_string()));
        Ok(())
    }

    async fn references(&self, tenant: TenantId, conn: ConnectionId) -> RepoResult<Vec<Reference>> {
        Ok(self
            .lock()
            .references
            .get(&(tenant, conn))
            .cloned()
            .unwrap_or_default())
    }

    async fn add_reference(
        &self,
        tenant: TenantId,
        conn: ConnectionId,
        reference: Reference,
    ) -> RepoResult<()> {
        let mut s = self.lock();
        let list = s.references.entry((tenant, conn)).or_default();
        list.retain(|r| !(r.kind == reference.kind && r.id == reference.id));
        list.push(reference);
        Ok(())
    }

    async fn remove_reference(
        &self,
        tenant: TenantId,
        conn: ConnectionId,
        kind: &str,
        id: &str,
    ) -> RepoResult<()> {
        if let Some(list) = self.lock().references.get_mut(&(tenant, conn)) {
            list.retain(|r| !(r.kind == kind && r.id == id));
        }
        Ok(())
    }

    async fn put_pending(&self, pending: PendingAuthorization) -> RepoResult<()> {
        self.lock().pending.insert(pending.state.clone(), pending);
        Ok(())
    }

    async fn take_pending(&self, state: &str) -> RepoResult<Option<PendingAuthorization>> {
        Ok(self.lock().pending.remove(state))
    }

    async fn put_component(&self, component: StoredComponent) -> RepoResult<()> {
        let mut s = self.lock();
        s.components.retain(|c| {
            !(c.tenant_id == component.tenant_id && c.connector_id == component.connector_id)
        });
        s.components.push(component);
        Ok(())
    }

    async fn components(&self, tenant: Option<TenantId>) -> RepoResult<Vec<StoredComponent>> {
        Ok(self
            .lock()
            .components
            .iter()
            .filter(|c| tenant.is_none_or(|t| c.tenant_id == t))
            .cloned()
            .collect())
    }

    async fn delete_component(&self, tenant: TenantId, connector_id: &str) -> RepoResult<()> {
        let mut s = self.lock();
        let before = s.components.len();
        s.components
            .retain(|c| !(c.tenant_id == tenant && c.connector_id == connector_id));
        if s.components.len() == before {
            return Err(RepoError::NotFound);
        }
        Ok(())
    }

    async fn audit(&self, event: AuditEvent) -> RepoResult<()> {
        self.lock().audit.push(event);
        Ok(())
    }

    async fn audit_events(&self, tenant: TenantId, limit: usize) -> RepoResult<Vec<AuditEvent>> {
        let s = self.lock();
        Ok(s.audit
            .iter()
            .rev()
            .filter(|e| e.tenant_id == tenant)
            .take(limit)
            .cloned()
            .collect())
    }
}
