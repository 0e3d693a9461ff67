//! Organizations, tenants, users and folders (personal workspaces and
//! shared folders with members). Tenant-owned reads take a [`Scope`]; this
//! module must never return a row of another tenant or organization, and
//! never decide *permissions* beyond membership (roles are stored, the
//! server interprets them).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::db::{from_ms, now_ms, on_db};
use crate::{FolderId, OrganizationId, Scope, Store, StoreError, TenantId, UserId};

/// An organization.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organization {
    /// Id.
    pub id: OrganizationId,
    /// Unique name.
    pub name: String,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// A tenant of an organization.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    /// Id.
    pub id: TenantId,
    /// Owning organization.
    pub org: OrganizationId,
    /// Name, unique in the organization.
    pub name: String,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

impl Tenant {
    /// The scope of this tenant.
    pub fn scope(&self) -> Scope {
        Scope::new(self.org, self.id)
    }
}

/// A user of an organization.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Id.
    pub id: UserId,
    /// Organization.
    pub org: OrganizationId,
    /// Login name, unique in the organization.
    pub user_name: String,
    /// Display name.
    pub display_name: String,
    /// E-mail.
    pub email: Option<String>,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// Personal workspace or shared folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FolderKind {
    /// One user's personal workspace.
    Personal,
    /// A shared folder: usable and editable by its members.
    Shared,
}

impl FolderKind {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Personal => "personal",
            Self::Shared => "shared",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "personal" => Ok(Self::Personal),
            "shared" => Ok(Self::Shared),
            other => Err(StoreError::Corrupt {
                what: "folder kind",
                detail: format!("unknown kind `{other}`"),
            }),
        }
    }
}

/// A folder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Folder {
    /// Id.
    pub id: FolderId,
    /// Scope.
    pub scope: Scope,
    /// Kind.
    pub kind: FolderKind,
    /// Name (unique among shared folders of the tenant).
    pub name: String,
    /// For a personal workspace: its user.
    pub owner: Option<UserId>,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
pub(crate) struct FolderRow {
    id: Uuid,
    org_id: Uuid,
    tenant_id: Uuid,
    kind: String,
    name: String,
    owner_user_id: Option<Uuid>,
    created_at: i64,
}

impl FolderRow {
    pub(crate) fn into_folder(self) -> Result<Folder, StoreError> {
        Ok(Folder {
            id: self.id.into(),
            scope: Scope::new(self.org_id.into(), self.tenant_id.into()),
            kind: FolderKind::parse(&self.kind)?,
            name: self.name,
            owner: self.owner_user_id.map(Into::into),
            created_at: from_ms(self.created_at),
        })
    }
}

pub(crate) const FOLDER_COLUMNS: &str =
    "id, org_id, tenant_id, kind, name, owner_user_id, created_at";

impl Store {
    /// Creates an organization, with its built-in groups, roles and
    /// message templates ([`Store::create_identity_built_ins`]).
    pub async fn create_organization(&self, name: &str) -> Result<Organization, StoreError> {
        let org = Organization {
            id: OrganizationId::new(),
            name: name.to_owned(),
            created_at: from_ms(now_ms()),
        };
        on_db!(self.db(), pool => sqlx::query(
                "INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(org.id)
            .bind(&org.name)
            .bind(crate::db::to_ms(org.created_at))
            .execute(pool)
            .await
            .map_err(StoreError::write("create organization", "organization"))?
            .rows_affected());
        self.create_identity_built_ins(org.id).await?;
        Ok(org)
    }

    /// An organization by id.
    pub async fn get_organization(
        &self,
        id: OrganizationId,
    ) -> Result<Option<Organization>, StoreError> {
        let row: Option<(Uuid, String, i64)> = on_db!(self.db(), pool => sqlx::query_as(
                "SELECT id, name, created_at FROM organizations WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await
            .map_err(StoreError::query("get organization"))?);
        Ok(row.map(|(id, name, at)| Organization {
            id: id.into(),
            name,
            created_at: from_ms(at),
        }))
    }

    /// An organization by its (unique) name; sign-in names it.
    pub async fn find_organization(&self, name: &str) -> Result<Option<Organization>, StoreError> {
        let row: Option<(Uuid, String, i64)> = on_db!(self.db(), pool => sqlx::query_as(
                "SELECT id, name, created_at FROM organizations WHERE name = $1")
            .bind(name)
            .fetch_optional(pool)
            .await
            .map_err(StoreError::query("find organization"))?);
        Ok(row.map(|(id, name, at)| Organization {
            id: id.into(),
            name,
            created_at: from_ms(at),
        }))
    }

    /// Creates a tenant in `org`.
    pub async fn create_tenant(
        &self,
        org: OrganizationId,
        name: &str,
    ) -> Result<Tenant, StoreError> {
        let tenant = Tenant {
            id: TenantId::new(),
            org,
            name: name.to_owned(),
            created_at: from_ms(now_ms()),
        };
        let done = on_db!(self.db(), pool => sqlx::query(
                "INSERT INTO tenants (id, org_id, name, created_at) \
                 SELECT $1, id, $2, $3 FROM organizations WHERE id = $4")
            .bind(tenant.id)
            .bind(&tenant.name)
            .bind(crate::db::to_ms(tenant.created_at))
            .bind(org)
            .execute(pool)
            .await
            .map_err(StoreError::write("create tenant", "tenant"))?
            .rows_affected());
        if done == 0 {
            return Err(StoreError::NotFound {
                what: "organization",
                id: org.to_string(),
            });
        }
        Ok(tenant)
    }

    /// The tenant of `scope`, if it exists in that organization.
    pub async fn get_tenant(&self, scope: &Scope) -> Result<Option<Tenant>, StoreError> {
        let row: Option<(Uuid, Uuid, String, i64)> = on_db!(self.db(), pool => sqlx::query_as(
                "SELECT id, org_id, name, created_at FROM tenants WHERE id = $1 AND org_id = $2")
            .bind(scope.tenant)
            .bind(scope.org)
            .fetch_optional(pool)
            .await
            .map_err(StoreError::query("get tenant"))?);
        Ok(row.map(|(id, org, name, at)| Tenant {
            id: id.into(),
            org: org.into(),
            name,
            created_at: from_ms(at),
        }))
    }

    /// Tenants of an organization, by name.
    pub async fn list_tenants(&self, org: OrganizationId) -> Result<Vec<Tenant>, StoreError> {
        let rows: Vec<(Uuid, Uuid, String, i64)> = on_db!(self.db(), pool => sqlx::query_as(
                "SELECT id, org_id, name, created_at FROM tenants WHERE org_id = $1 ORDER BY name")
            .bind(org)
            .fetch_all(pool)
            .await
            .map_err(StoreError::query("list tenants"))?);
        Ok(rows
            .into_iter()
            .map(|(id, org, name, at)| Tenant {
                id: id.into(),
                org: org.into(),
                name,
                created_at: from_ms(at),
            })
            .collect())
    }

    /// Creates a user in `org`.
    pub async fn create_user(
        &self,
        org: OrganizationId,
        user_name: &str,
        display_name: &str,
        email: Option<&str>,
    ) -> Result<User, StoreError> {
        let user = User {
            id: UserId::new(),
            org,
            user_name: user_name.to_owned(),
            display_name: display_name.to_owned(),
            email: email.map(str::to_owned),
            created_at: from_ms(now_ms()),
        };
        on_db!(self.db(), pool => sqlx::query(
                "INSERT INTO users (id, org_id, user_name, display_name, email, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(user.id)
            .bind(org)
            .bind(&user.user_name)
            .bind(&user.display_name)
            .bind(&user.email)
            .bind(crate::db::to_ms(user.created_at))
            .execute(pool)
            .await
            .map_err(StoreError::write("create user", "user"))?
            .rows_affected());
        Ok(user)
    }

    /// A user of `org`.
    pub async fn get_user(
        &self,
        org: OrganizationId,
        id: UserId,
    ) -> Result<Option<User>, StoreError> {
        #[allow(clippy::type_complexity)]
        let row: Option<(Uuid, Uuid, String, String, Option<String>, i64)> = on_db!(self.db(), pool => sqlx::query_as(
                "SELECT id, org_id, user_name, display_name, email, created_at FROM users \
                 WHERE id = $1 AND org_id = $2")
            .bind(id)
            .bind(org)
            .fetch_optional(pool)
            .await
            .map_err(StoreError::query("get user"))?);
        Ok(
            row.map(|(id, org, user_name, display_name, email, at)| User {
                id: id.into(),
                org: org.into(),
                user_name,
                display_name,
                email,
                created_at: from_ms(at),
            }),
        )
    }

    /// Users of `org`, by user name.
    pub async fn list_users(&self, org: OrganizationId) -> Result<Vec<User>, StoreError> {
        #[allow(clippy::type_complexity)]
        let rows: Vec<(Uuid, Uuid, String, String, Option<String>, i64)> = on_db!(self.db(), pool => sqlx::query_as(
                "SELECT id, org_id, user_name, display_name, email, created_at FROM users \
                 WHERE org_id = $1 ORDER BY user_name")
            .bind(org)
            .fetch_all(pool)
            .await
            .map_err(StoreError::query("list users"))?);
        Ok(rows
            .into_iter()
            .map(|(id, org, user_name, display_name, email, at)| User {
                id: id.into(),
                org: org.into(),
                user_name,
                display_name,
                email,
                created_at: from_ms(at),
            })
            .collect())
    }

    /// A user of `org` by user name.
    pub async fn find_user(
        &self,
        org: OrganizationId,
        user_name: &str,
    ) -> Result<Option<User>, StoreError> {
        #[allow(clippy::type_complexity)]
        let row: Option<(Uuid, Uuid, String, String, Option<String>, i64)> = on_db!(self.db(), pool => sqlx::query_as(
                "SELECT id, org_id, user_name, display_name, email, created_at FROM users \
                 WHERE org_id = $1 AND user_name = $2")
            .bind(org)
            .bind(user_name)
            .fetch_optional(pool)
            .await
            .map_err(StoreError::query("find user"))?);
        Ok(
            row.map(|(id, org, user_name, display_name, email, at)| User {
                id: id.into(),
                org: org.into(),
                user_name,
                display_name,
                email,
                created_at: from_ms(at),
            }),
        )
    }

    /// The user's personal workspace in the tenant, created on first use.
    pub async fn personal_folder(&self, scope: &Scope, user: UserId) -> Result<Folder, StoreError> {
        if let Some(f) = self.find_personal_folder(scope, user).await? {
            return Ok(f);
        }
        let id = FolderId::new();
        let res = on_db!(self.db(), pool => sqlx::query(
                "INSERT INTO folders (id, org_id, tenant_id, kind, name, owner_user_id, created_by, created_at) \
                 VALUES ($1, $2, $3, 'personal', 'My Workspace', $4, $4, $5)")
            .bind(id)
            .bind(scope.org)
            .bind(scope.tenant)
            .bind(user)
            .bind(now_ms())
            .execute(pool)
            .await
            .map(|r| r.rows_affected()));
        match res {
            Ok(_) => {}
            // a concurrent first use created it: fine
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {}
            Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
                return Err(StoreError::NotFound {
                    what: "tenant or user",
                    id: format!("{}/{user}", scope.tenant),
                });
            }
            Err(e) => return Err(StoreError::query("create personal folder")(e)),
        }
        self.find_personal_folder(scope, user)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "personal folder",
                id: user.to_string(),
            })
    }

    async fn find_personal_folder(
        &self,
        scope: &Scope,
        user: UserId,
    ) -> Result<Option<Folder>, StoreError> {
        let sql = format!(
            "SELECT {FOLDER_COLUMNS} FROM folders WHERE org_id = $1 AND tenant_id = $2 \
             AND kind = 'personal' AND owner_user_id = $3"
        );
        let row: Option<FolderRow> = on_db!(self.db(), pool => sqlx::query_as(&sql)
            .bind(scope.org)
            .bind(scope.tenant)
            .bind(user)
            .fetch_optional(pool)
            .await
            .map_err(StoreError::query("get personal folder"))?);
        row.map(FolderRow::into_folder).transpose()
    }

    /// Creates a shared folder; `created_by` (if any) becomes its first member
    /// with role `owner`.
    pub async fn create_shared_folder(
        &self,
        scope: &Scope,
        name: &str,
        created_by: Option<UserId>,
    ) -> Result<Folder, StoreError> {
        let id = FolderId::new();
        let at = now_ms();
        on_db!(self.db(), pool => {
            let mut tx = pool.begin().await.map_err(StoreError::query("begin"))?;
            sqlx::query(
                "INSERT INTO folders (id, org_id, tenant_id, kind, name, owner_user_id, created_by, created_at) \
                 VALUES ($1, $2, $3, 'shared', $4, NULL, $5, $6)")
                .bind(id)
                .bind(scope.org)
                .bind(scope.tenant)
                .bind(name)
                .bind(created_by)
                .bind(at)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::write("create shared folder", "shared folder"))?;
            if let Some(user) = created_by {
                sqlx::query(
                    "INSERT INTO folder_members (folder_id, org_id, tenant_id, user_id, role, added_at) \
                     VALUES ($1, $2, $3, $4, 'owner', $5)")
                    .bind(id)
                    .bind(scope.org)
                    .bind(scope.tenant)
                    .bind(user)
                    .bind(at)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::write("add folder owner", "folder member"))?;
            }
            tx.commit().await.map_err(StoreError::query("commit"))?;
        });
        Ok(Folder {
            id,
            scope: *scope,
            kind: FolderKind::Shared,
            name: name.to_owned(),
            owner: None,
            created_at: from_ms(at),
        })
    }

    /// A folder of the tenant.
    pub async fn get_folder(
        &self,
        scope: &Scope,
        id: FolderId,
    ) -> Result<Option<Folder>, StoreError> {
        let sql = format!(
            "SELECT {FOLDER_COLUMNS} FROM folders WHERE id = $1 AND org_id = $2 AND tenant_id = $3"
        );
        let row: Option<FolderRow> = on_db!(self.db(), pool => sqlx::query_as(&sql)
            .bind(id)
            .bind(scope.org)
            .bind(scope.tenant)
            .fetch_optional(pool)
            .await
            .map_err(StoreError::query("get folder"))?);
        row.map(FolderRow::into_folder).transpose()
    }

    /// Adds (or changes the role of) a member of a shared folder.
    pub async fn add_folder_member(
        &self,
        scope: &Scope,
        folder: FolderId,
        user: UserId,
        role: &str,
    ) -> Result<(), StoreError> {
        let f = self
            .get_folder(scope, folder)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "folder",
                id: folder.to_string(),
            })?;
        if f.kind != FolderKind::Shared {
            return Err(StoreError::Invalid {
                what: "folder member",
                reason: "a personal workspace has no members; share through a shared folder".into(),
            });
        }
        on_db!(self.db(), pool => sqlx::query(
                "INSERT INTO folder_members (folder_id, org_id, tenant_id, user_id, role, added_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (folder_id, user_id) DO UPDATE SET role = excluded.role")
            .bind(folder)
            .bind(scope.org)
            .bind(scope.tenant)
            .bind(user)
            .bind(role)
            .bind(now_ms())
            .execute(pool)
            .await
            .map_err(StoreError::write("add folder member", "folder member"))?
            .rows_affected());
        self.connections_changed();
        Ok(())
    }

    /// Removes a member; `Ok(false)` if they were not one.
    pub async fn remove_folder_member(
        &self,
        scope: &Scope,
        folder: FolderId,
        user: UserId,
    ) -> Result<bool, StoreError> {
        let n = on_db!(self.db(), pool => sqlx::query(
                "DELETE FROM folder_members WHERE folder_id = $1 AND user_id = $2 AND org_id = $3 AND tenant_id = $4")
            .bind(folder)
            .bind(user)
            .bind(scope.org)
            .bind(scope.tenant)
            .execute(pool)
            .await
            .map_err(StoreError::query("remove folder member"))?
            .rows_affected());
        self.connections_changed();
        Ok(n > 0)
    }

    /// The user's role in a folder: `owner` for their personal workspace,
    /// their member role in a shared folder, `None` without access.
    pub async fn folder_role(
        &self,
        scope: &Scope,
        folder: FolderId,
        user: UserId,
    ) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = on_db!(self.db(), pool => sqlx::query_as(
                "SELECT 'owner' FROM folders WHERE id = $1 AND org_id = $2 AND tenant_id = $3 \
                   AND kind = 'personal' AND owner_user_id = $4 \
                 UNION ALL \
                 SELECT m.role FROM folder_members m JOIN folders f ON f.id = m.folder_id \
                 WHERE m.folder_id = $1 AND m.org_id = $2 AND m.tenant_id = $3 AND m.user_id = $4 \
                   AND f.tenant_id = $3")
            .bind(folder)
            .bind(scope.org)
            .bind(scope.tenant)
            .bind(user)
            .fetch_optional(pool)
            .await
            .map_err(StoreError::query("folder role"))?);
        Ok(row.map(|r| r.0))
    }

    /// Folders the user can see in the tenant: their personal workspace (if
    /// created) and the shared folders they are a member of.
    pub async fn list_folders_for_user(
        &self,
        scope: &Scope,
        user: UserId,
    ) -> Result<Vec<Folder>, StoreError> {
        let sql = format!(
            "SELECT {FOLDER_COLUMNS} FROM folders f WHERE f.org_id = $1 AND f.tenant_id = $2 AND \
             ((f.kind = 'personal' AND f.owner_user_id = $3) OR \
              (f.kind = 'shared' AND EXISTS (SELECT 1 FROM folder_members m WHERE m.folder_id = f.id AND m.user_id = $3))) \
             ORDER BY f.kind, f.name"
        );
        let rows: Vec<FolderRow> = on_db!(self.db(), pool => sqlx::query_as(&sql)
            .bind(scope.org)
            .bind(scope.tenant)
            .bind(user)
            .fetch_all(pool)
            .await
            .map_err(StoreError::query("list folders"))?);
        rows.into_iter().map(FolderRow::into_folder).collect()
    }
}
