//! Identity rows of an organization: local passwords and cultures of users,
//! groups with members, robot accounts, roles with permissions and their
//! assignments, organization settings, message templates, external
//! applications with their access tokens, and login attempts; the integer
//! numbers seed 004's clients use as ids, and the built-in groups, roles
//! and message templates every organization has.
//!
//! Numbers: users, robot accounts, groups and roles each have a `number`,
//! unique in their organization across the four kinds, assigned by the
//! database when the row is inserted (triggers of migration 0012, so no
//! insert can forget it) from a per-organization counter that only goes
//! up: a number is never reused. [`Store::find_identity_number`] says what
//! a number names.
//!
//! Built-ins ([`BUILT_IN_GROUPS`], [`BUILT_IN_ROLES`],
//! [`BUILT_IN_TEMPLATES`]) are made with each organization by
//! [`Store::create_identity_built_ins`] (migration 0013 made them for
//! organizations that existed before). They carry their `builtin` key; the
//! deletes of this module never delete one. The `Everyone` group's members
//! are every user of the organization, computed, never stored.
//!
//! Every function takes the [`OrganizationId`] it runs in and filters on it,
//! so a row of another organization is simply not found (`None`, `false`,
//! or zero rows). The two lookups that start from a credential
//! ([`Store::find_external_app`], [`Store::find_access_token`]) return the
//! organization the credential belongs to. This module stores only hashes
//! (argon2 for passwords and app secrets, SHA-256 for access tokens) and
//! must never see or store a plaintext secret.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::db::{from_ms, now_ms, on_db, to_ms};
use crate::{OrganizationId, Store, StoreError, UserId};

/// A group and its members (user or robot-account ids).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Id.
    pub id: Uuid,
    /// The integer id seed 004's clients use, unique in the organization.
    pub number: i64,
    /// Organization.
    pub org: OrganizationId,
    /// Name, unique in the organization.
    pub name: String,
    /// Member ids. For the `Everyone` built-in: every user, computed.
    pub members: Vec<Uuid>,
    /// The built-in's key ([`BUILT_IN_GROUPS`]); `None` for a local group.
    pub builtin: Option<String>,
}

/// A robot account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RobotAccount {
    /// Id.
    pub id: Uuid,
    /// The integer id seed 004's clients use, unique in the organization.
    pub number: i64,
    /// Organization.
    pub org: OrganizationId,
    /// Name, unique in the organization.
    pub name: String,
    /// Display name.
    pub display_name: String,
}

/// A role with its permissions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    /// Id.
    pub id: Uuid,
    /// The integer id seed 004's clients use, unique in the organization.
    pub number: i64,
    /// Organization.
    pub org: OrganizationId,
    /// Name, unique in the organization.
    pub name: String,
    /// Permission names (`Users.View`...).
    pub permissions: Vec<String>,
    /// The built-in's key ([`BUILT_IN_ROLES`]); `None` for a role the
    /// organization made.
    pub builtin: Option<String>,
}

/// A message template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageTemplate {
    /// Id.
    pub id: Uuid,
    /// Organization.
    pub org: OrganizationId,
    /// Name, unique in the organization.
    pub name: String,
    /// Template text.
    pub value: String,
    /// The built-in's key ([`BUILT_IN_TEMPLATES`]); `None` for a template
    /// the organization made.
    pub builtin: Option<String>,
}

/// What kind of row an integer number names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdentityKind {
    /// A user (`users`).
    User,
    /// A robot account.
    RobotAccount,
    /// A group.
    Group,
    /// A role.
    Role,
}

impl IdentityKind {
    /// The table of this kind (a constant: never built from input).
    fn table(self) -> &'static str {
        match self {
            Self::User => "users",
            Self::RobotAccount => "robot_accounts",
            Self::Group => "identity_groups",
            Self::Role => "identity_roles",
        }
    }

    /// The kind as the queries below spell it.
    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "user" => Ok(Self::User),
            "robot" => Ok(Self::RobotAccount),
            "group" => Ok(Self::Group),
            "role" => Ok(Self::Role),
            other => Err(StoreError::Corrupt {
                what: "identity kind",
                detail: format!("unknown kind `{other}`"),
            }),
        }
    }
}

/// A user, robot account or group as seed 004's `/odata/Users` lists
/// them: one list, one number space.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryEntry {
    /// [`IdentityKind::User`], [`IdentityKind::RobotAccount`] or [`IdentityKind::Group`].
    pub kind: IdentityKind,
    /// Id.
    pub id: Uuid,
    /// The integer id, unique in the organization.
    pub number: i64,
    /// User name, robot account name or group name.
    pub name: String,
    /// Display name (a group's is its name).
    pub display_name: String,
    /// A user's e-mail.
    pub email: Option<String>,
    /// A user's culture (`ja`, `fr-FR`).
    pub culture: Option<String>,
}

/// A group, role or message template every organization has from its
/// creation: its stable key, its name, and its value (a role's
/// space-separated permissions, a template's text; empty for a group).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuiltIn {
    /// Stable key, kept in the row's `builtin` column.
    pub key: &'static str,
    /// Name (unique in the organization).
    pub name: &'static str,
    /// Permissions (roles) or text (templates); empty for groups.
    pub value: &'static str,
}

/// The key of the `Everyone` group, whose members are every user.
pub const EVERYONE: &str = "everyone";

/// Built-in groups: `Administrators` (members as set) and `Everyone`.
pub const BUILT_IN_GROUPS: &[BuiltIn] = &[
    BuiltIn {
        key: "administrators",
        name: "Administrators",
        value: "",
    },
    BuiltIn {
        key: EVERYONE,
        name: "Everyone",
        value: "",
    },
];

/// Built-in roles with their permissions.
pub const BUILT_IN_ROLES: &[BuiltIn] = &[
    BuiltIn {
        key: "administrator",
        name: "Administrator",
        value: "Users.View Users.Edit Roles.View Roles.Edit Groups.View Groups.Edit Robots.View Robots.Edit Settings.View Settings.Edit Audit.View",
    },
    BuiltIn {
        key: "automation_user",
        name: "Automation User",
        value: "Users.View Robots.View",
    },
    BuiltIn {
        key: "robot",
        name: "Robot",
        value: "Robots.View Settings.View",
    },
];

/// Default message templates; organizations edit their text.
pub const BUILT_IN_TEMPLATES: &[BuiltIn] = &[
    BuiltIn {
        key: "user_invitation",
        name: "UserInvitation",
        value: "Hello {{displayName}}, you have been invited to {{organizationName}}. Sign in as {{userName}}.",
    },
    BuiltIn {
        key: "password_reset",
        name: "PasswordReset",
        value: "Hello {{displayName}}, your password for {{organizationName}} was reset. If you did not ask for this, tell your administrator.",
    },
    BuiltIn {
        key: "account_locked",
        name: "AccountLocked",
        value: "Hello {{displayName}}, too many failed sign-ins locked your account for a while. If this was not you, tell your administrator.",
    },
];

/// An external application as found by its client id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalApp {
    /// Id.
    pub id: Uuid,
    /// The organization that registered it.
    pub org: OrganizationId,
    /// Client id.
    pub client_id: String,
    /// Argon2 PHC string of the secret.
    pub secret_hash: String,
    /// Scopes it may be granted.
    pub scopes: Vec<String>,
}

/// A registered external application as its organization lists it: no
/// secret, no hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredApp {
    /// Id.
    pub id: Uuid,
    /// The organization that registered it.
    pub org: OrganizationId,
    /// Name.
    pub name: String,
    /// Client id.
    pub client_id: String,
    /// Scopes it may be granted.
    pub scopes: Vec<String>,
    /// When it was registered.
    pub created_at: OffsetDateTime,
}

/// An access token as found by its hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessToken {
    /// The organization of the application it was issued to.
    pub org: OrganizationId,
    /// The application.
    pub app: Uuid,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Expiry.
    pub expires_at: OffsetDateTime,
}

/// One recorded sign-in attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginAttempt {
    /// Id.
    pub id: Uuid,
    /// User.
    pub user: UserId,
    /// Whether the user got in (`false` also when the password matched but
    /// the sign-in was refused, e.g. `no_tenant`).
    pub succeeded: bool,
    /// Why a failed attempt failed (`wrong_password`, `throttled`,
    /// `no_tenant`...); `None` for a success, and for failures recorded
    /// before reasons were.
    pub reason: Option<String>,
    /// Who tried (client description, not a secret).
    pub client: String,
    /// When.
    pub created_at: OffsetDateTime,
}

/// The four identity tables' rows whose `column` (`number` or `id`, a
/// constant) is `$2`, in organization `$1`.
fn find_identity_sql(column: &str) -> String {
    ["user", "robot", "group", "role"]
        .iter()
        .zip([
            IdentityKind::User,
            IdentityKind::RobotAccount,
            IdentityKind::Group,
            IdentityKind::Role,
        ])
        .map(|(kind, k)| {
            format!(
                "SELECT '{kind}', id, number FROM {} WHERE org_id = $1 AND {column} = $2",
                k.table()
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

/// A row of [`find_identity_sql`], typed.
fn identity_row(
    row: Option<(String, Uuid, Option<i64>)>,
) -> Result<Option<(IdentityKind, Uuid, i64)>, StoreError> {
    row.map(|(kind, id, number)| {
        let kind = IdentityKind::parse(&kind)?;
        Ok((kind, id, numbered(number, kind, id)?))
    })
    .transpose()
}

/// A row's number, which the database always sets (migration 0012's
/// triggers); a missing one is a corrupt row, never a default.
fn numbered(number: Option<i64>, kind: IdentityKind, id: Uuid) -> Result<i64, StoreError> {
    number.ok_or_else(|| StoreError::Corrupt {
        what: "identity number",
        detail: format!("{} row {id} has no number", kind.table()),
    })
}

fn split_list(s: &str) -> Vec<String> {
    s.split(' ')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Store {
    // ----- users: passwords, culture, deletion -----

    /// Sets the argon2 hash of a user's password; false if the user is not in `org`.
    pub async fn set_user_password_hash(
        &self,
        org: OrganizationId,
        user: UserId,
        hash: &str,
    ) -> Result<bool, StoreError> {
        let n = on_db!(self.db(), pool => sqlx::query(
                "UPDATE users SET password_hash = $1 WHERE id = $2 AND org_id = $3")
            .bind(hash).bind(user).bind(org)
            .execute(pool).await.map_err(StoreError::query("set password"))?.rows_affected());
        Ok(n > 0)
    }

    /// The stored password hash of a user of `org` (None: no user or no password).
    pub async fn user_password_hash(
        &self,
        org: OrganizationId,
        user: UserId,
    ) -> Result<Option<String>, StoreError> {
        let row: Option<(Option<String>,)> = on_db!(self.db(), pool => sqlx::query_as(
                "SELECT password_hash FROM users WHERE id = $1 AND org_id = $2")
            .bind(user).bind(org)
            .fetch_optional(pool).await.map_err(StoreError::query("read password"))?);
        Ok(row.and_then(|r| r.0))
    }

    /// Sets a user's culture (`ja`, `fr-FR`...); false if the user is not in `org`.
    pub async fn set_user_culture(
        &self,
        org: OrganizationId,
        user: UserId,
        culture: &str,
    ) -> Result<bool, StoreError> {
        let n = on_db!(self.db(), pool => sqlx::query(
                "UPDATE users SET culture = $1 WHERE id = $2 AND org_id = $3")
            .bind(culture).bind(user).bind(org)
            .execute(pool).await.map_err(StoreError::query("set culture"))?.rows_affected());
        Ok(n > 0)
    }

    /// A user's culture.
    pub async fn user_culture(
        &self,
        org: OrganizationId,
        user: UserId,
    ) -> Result<Option<String>, StoreError> {
        let row: Option<(Option<String>,)> = on_db!(self.db(), pool => sqlx::query_as(
                "SELECT culture FROM users WHERE id = $1 AND org_id = $2")
            .bind(user).bind(org)
            .fetch_optional(pool).await.map_err(StoreError::query("read culture"))?);
        Ok(row.and_then(|r| r.0))
    }

    /// Updates display name and e-mail; false if the user is not in `org`.
    pub async fn update_user_profile(
        &self,
        org: OrganizationId,
        user: UserId,
        display_name: &str,
        email: Option<&str>,
    ) -> Result<bool, StoreError> {
        let n = on_db!(self.db(), pool => sqlx::query(
                "UPDATE users SET display_name = $1, email = $2 WHERE id = $3 AND org_id = $4")
            .bind(display_name).bind(email).bind(user).bind(org)
            .execute(pool).await.map_err(StoreError::query("update user"))?.rows_affected());
        Ok(n > 0)
    }

    /// Deletes a user of `org` (with their folders, memberships, attempts);
    /// false if not found. See [`Store::delete_users`].
    pub async fn delete_user(&self, org: OrganizationId, user: UserId) -> Result<bool, StoreError> {
        Ok(self.delete_users(org, &[user]).await? > 0)
    }

    /// Deletes users of `org` (with their folders, memberships, attempts);
    /// the number deleted (ids of no user of `org` count for nothing). All
    /// or nothing: if one of them still owns connections in a personal
    /// folder, it is [`StoreError::InUse`] and nobody is deleted or loses
    /// a group membership or role.
    pub async fn delete_users(
        &self,
        org: OrganizationId,
        users: &[UserId],
    ) -> Result<u64, StoreError> {
        let in_use = |user: UserId| {
            move |source: sqlx::Error| match &source {
                sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::InUse {
                    what: "user",
                    id: user.to_string(),
                    detail: "connections in their personal workspace still belong to them; \
                             delete those connections first"
                        .into(),
                },
                _ => StoreError::Query {
                    step: "delete user",
                    source,
                },
            }
        };
        let n = on_db!(self.db(), pool => {
            let mut tx = pool.begin().await.map_err(StoreError::query("begin"))?;
            let mut n = 0;
            for &user in users {
                sqlx::query("DELETE FROM identity_group_members WHERE member_id = $1 AND org_id = $2")
                    .bind(user).bind(org).execute(&mut *tx).await.map_err(StoreError::query("delete user"))?;
                sqlx::query("DELETE FROM identity_role_assignments WHERE principal_id = $1 AND org_id = $2")
                    .bind(user).bind(org).execute(&mut *tx).await.map_err(StoreError::query("delete user"))?;
                n += sqlx::query("DELETE FROM users WHERE id = $1 AND org_id = $2")
                    .bind(user).bind(org).execute(&mut *tx).await.map_err(in_use(user))?.rows_affected();
            }
            tx.commit().await.map_err(StoreError::query("delete user"))?;
            n
        });
        for &user in users {
            // Their API tokens went with them (ON DELETE CASCADE).
            self.inner.token_owners.forget_user(user);
        }
        // So did their folder memberships.
        self.connections_changed();
        Ok(n)
    }

    // ----- numbers and the directory -----

    /// The number the database gave a row of `kind` (its triggers did).
    async fn number_of(&self, kind: IdentityKind, id: Uuid) -> Result<i64, StoreError> {
        let sql = format!("SELECT number FROM {} WHERE id = $1", kind.table());
        let n: Option<i64> = on_db!(self.db(), pool => sqlx::query_scalar(&sql)
            .bind(id).fetch_one(pool).await.map_err(StoreError::query("read identity number"))?);
        numbered(n, kind, id)
    }

    /// What `number` names in `org`: a user, robot account, group or role,
    /// and its id (`None`: nothing of `org`, now or ever, or deleted).
    pub async fn find_identity_number(
        &self,
        org: OrganizationId,
        number: i64,
    ) -> Result<Option<(IdentityKind, Uuid)>, StoreError> {
        let row = on_db!(self.db(), pool => sqlx::query_as(&find_identity_sql("number"))
            .bind(org).bind(number)
            .fetch_optional(pool).await.map_err(StoreError::query("find identity number"))?);
        Ok(identity_row(row)?.map(|(kind, id, _)| (kind, id)))
    }

    /// What kind of row `id` is in `org` (a user, robot account, group or
    /// role), and its number; `None` if it is none of `org`'s.
    pub async fn find_identity(
        &self,
        org: OrganizationId,
        id: Uuid,
    ) -> Result<Option<(IdentityKind, i64)>, StoreError> {
        let row = on_db!(self.db(), pool => sqlx::query_as(&find_identity_sql("id"))
            .bind(org).bind(id)
            .fetch_optional(pool).await.map_err(StoreError::query("find identity"))?);
        Ok(identity_row(row)?.map(|(kind, _, number)| (kind, number)))
    }

    /// The number of a user of `org` (`None`: no such user).
    pub async fn user_number(
        &self,
        org: OrganizationId,
        user: UserId,
    ) -> Result<Option<i64>, StoreError> {
        let row: Option<(Option<i64>,)> = on_db!(self.db(), pool => sqlx::query_as(
                "SELECT number FROM users WHERE id = $1 AND org_id = $2")
            .bind(user).bind(org)
            .fetch_optional(pool).await.map_err(StoreError::query("read user number"))?);
        Ok(row.and_then(|r| r.0))
    }

    /// Users, robot accounts and groups of `org` in one list, by number
    /// (seed 004's `/odata/Users`); only the one with id `only` when given.
    pub async fn list_directory(
        &self,
        org: OrganizationId,
        only: Option<Uuid>,
    ) -> Result<Vec<DirectoryEntry>, StoreError> {
        // The filter is one of two constants, never input.
        let filter = if only.is_some() {
            "org_id = $1 AND id = $2"
        } else {
            "org_id = $1 AND $2 IS NULL"
        };
        let sql = format!(
            "SELECT 'user', id, number, user_name, display_name, email, culture FROM users WHERE {filter} \
             UNION ALL SELECT 'robot', id, number, name, display_name, NULL, NULL FROM robot_accounts WHERE {filter} \
             UNION ALL SELECT 'group', id, number, name, name, NULL, NULL FROM identity_groups WHERE {filter} \
             ORDER BY 3"
        );
        #[allow(clippy::type_complexity)]
        let rows: Vec<(
            String,
            Uuid,
            Option<i64>,
            String,
            String,
            Option<String>,
            Option<String>,
        )> = on_db!(self.db(), pool => sqlx::query_as(&sql)
                .bind(org).bind(only)
                .fetch_all(pool).await.map_err(StoreError::query("list directory"))?);
        rows.into_iter()
            .map(|(kind, id, number, name, display_name, email, culture)| {
                let kind = IdentityKind::parse(&kind)?;
                Ok(DirectoryEntry {
                    kind,
                    id,
                    number: numbered(number, kind, id)?,
                    name,
                    display_name,
                    email,
                    culture,
                })
            })
            .collect()
    }

    // ----- built-ins -----

    /// Makes the built-in groups, roles and message templates of `org`
    /// ([`BUILT_IN_GROUPS`], [`BUILT_IN_ROLES`], [`BUILT_IN_TEMPLATES`]);
    /// [`Store::create_organization`] calls it. Idempotent: a built-in
    /// `org` has is kept, and a row of the same name becomes the built-in.
    pub async fn create_identity_built_ins(&self, org: OrganizationId) -> Result<(), StoreError> {
        let err = || StoreError::write("create built-ins", "built-in");
        let now = now_ms();
        on_db!(self.db(), pool => {
            for b in BUILT_IN_GROUPS {
                sqlx::query("UPDATE identity_groups SET builtin = $1 WHERE org_id = $2 AND name = $3 AND builtin IS NULL")
                    .bind(b.key).bind(org).bind(b.name).execute(pool).await.map_err(err())?;
                sqlx::query("INSERT INTO identity_groups (id, org_id, name, created_at, builtin) \
                             SELECT $1, $2, $3, $4, $5 WHERE NOT EXISTS \
                             (SELECT 1 FROM identity_groups WHERE org_id = $2 AND builtin = $5)")
                    .bind(Uuid::now_v7()).bind(org).bind(b.name).bind(now).bind(b.key)
                    .execute(pool).await.map_err(err())?;
            }
            for b in BUILT_IN_ROLES {
                sqlx::query("UPDATE identity_roles SET builtin = $1 WHERE org_id = $2 AND name = $3 AND builtin IS NULL")
                    .bind(b.key).bind(org).bind(b.name).execute(pool).await.map_err(err())?;
                sqlx::query("INSERT INTO identity_roles (id, org_id, name, permissions, created_at, builtin) \
                             SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS \
                             (SELECT 1 FROM identity_roles WHERE org_id = $2 AND builtin = $6)")
                    .bind(Uuid::now_v7()).bind(org).bind(b.name).bind(b.value).bind(now).bind(b.key)
                    .execute(pool).await.map_err(err())?;
            }
            for b in BUILT_IN_TEMPLATES {
                sqlx::query("UPDATE message_templates SET builtin = $1 WHERE org_id = $2 AND name = $3 AND builtin IS NULL")
                    .bind(b.key).bind(org).bind(b.name).execute(pool).await.map_err(err())?;
                sqlx::query("INSERT INTO message_templates (id, org_id, name, value, builtin) \
                             SELECT $1, $2, $3, $4, $5 WHERE NOT EXISTS \
                             (SELECT 1 FROM message_templates WHERE org_id = $2 AND builtin = $5)")
                    .bind(Uuid::now_v7()).bind(org).bind(b.name).bind(b.value).bind(b.key)
                    .execute(pool).await.map_err(err())?;
            }
        });
        Ok(())
    }

    // ----- groups -----

    async fn replace_group_members(
        &self,
        org: OrganizationId,
        group: Uuid,
        members: &[Uuid],
    ) -> Result<(), StoreError> {
        on_db!(self.db(), pool => {
            sqlx::query("DELETE FROM identity_group_members WHERE group_id = $1 AND org_id = $2")
                .bind(group).bind(org).execute(pool).await.map_err(StoreError::query("set members"))?;
            for m in members {
                sqlx::query("INSERT INTO identity_group_members (org_id, group_id, member_id) VALUES ($1, $2, $3) \
                             ON CONFLICT DO NOTHING")
                    .bind(org).bind(group).bind(m).execute(pool).await.map_err(StoreError::query("set members"))?;
            }
        });
        Ok(())
    }

    /// Creates a local group in `org`.
    pub async fn create_group(
        &self,
        org: OrganizationId,
        name: &str,
        members: &[Uuid],
    ) -> Result<Group, StoreError> {
        let id = Uuid::now_v7();
        on_db!(self.db(), pool => sqlx::query(
                "INSERT INTO identity_groups (id, org_id, name, created_at) VALUES ($1, $2, $3, $4)")
            .bind(id).bind(org).bind(name).bind(now_ms())
            .execute(pool).await.map_err(StoreError::write("create group", "group"))?.rows_affected());
        self.replace_group_members(org, id, members).await?;
        Ok(Group {
            id,
            number: self.number_of(IdentityKind::Group, id).await?,
            org,
            name: name.to_owned(),
            members: members.to_vec(),
            builtin: None,
        })
    }

    /// Groups of `org` (built-in and local), by name; one when `id` is given.
    pub async fn list_groups(&self, org: OrganizationId) -> Result<Vec<Group>, StoreError> {
        self.groups(org, None).await
    }

    /// A group of `org`.
    pub async fn get_group(
        &self,
        org: OrganizationId,
        id: Uuid,
    ) -> Result<Option<Group>, StoreError> {
        Ok(self.groups(org, Some(id)).await?.pop())
    }

    async fn groups(
        &self,
        org: OrganizationId,
        only: Option<Uuid>,
    ) -> Result<Vec<Group>, StoreError> {
        let rows: Vec<(Uuid, Option<i64>, String, Option<String>)> = on_db!(self.db(), pool => match only {
            Some(id) => sqlx::query_as(
                    "SELECT id, number, name, builtin FROM identity_groups WHERE org_id = $1 AND id = $2")
                .bind(org).bind(id).fetch_all(pool).await,
            None => sqlx::query_as(
                    "SELECT id, number, name, builtin FROM identity_groups WHERE org_id = $1 ORDER BY name")
                .bind(org).fetch_all(pool).await,
        }.map_err(StoreError::query("list groups"))?);
        let mut out = Vec::with_capacity(rows.len());
        for (id, number, name, builtin) in rows {
            let members = if builtin.as_deref() == Some(EVERYONE) {
                self.list_users(org)
                    .await?
                    .into_iter()
                    .map(|u| u.id.0)
                    .collect()
            } else {
                self.group_members(org, id).await?
            };
            out.push(Group {
                id,
                number: numbered(number, IdentityKind::Group, id)?,
                org,
                name,
                members,
                builtin,
            });
        }
        Ok(out)
    }

    async fn group_members(
        &self,
        org: OrganizationId,
        group: Uuid,
    ) -> Result<Vec<Uuid>, StoreError> {
        let rows: Vec<(Uuid,)> = on_db!(self.db(), pool => sqlx::query_as(
                "SELECT member_id FROM identity_group_members WHERE group_id = $1 AND org_id = $2 ORDER BY member_id")
            .bind(group).bind(org).fetch_all(pool).await.map_err(StoreError::query("group members"))?);
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Renames a group and, when `members` is given, replaces its members;
    /// false if not in `org`. Whether a built-in may be renamed or have
    /// its members set is the caller's rule.
    pub async fn update_group(
        &self,
        org: OrganizationId,
        id: Uuid,
        name: &str,
        members: Option<&[Uuid]>,
    ) -> Result<bool, StoreError> {
        let n = on_db!(self.db(), pool => sqlx::query(
                "UPDATE identity_groups SET name = $1 WHERE id = $2 AND org_id = $3")
            .bind(name).bind(id).bind(org)
            .execute(pool).await.map_err(StoreError::write("update group", "group"))?.rows_affected());
        if n == 0 {
            return Ok(false);
        }
        if let Some(members) = members {
            self.replace_group_members(org, id, members).await?;
        }
        Ok(true)
    }

    /// Deletes one local group of `org` (`Some(id)`) or all of them;
    /// rows deleted. Built-in groups are never deleted.
    pub async fn delete_groups(
        &self,
        org: OrganizationId,
        id: Option<Uuid>,
    ) -> Result<u64, StoreError> {
        let n = on_db!(self.db(), pool => match id {
            Some(id) => sqlx::query(
                    "DELETE FROM identity_groups WHERE id = $1 AND org_id = $2 AND builtin IS NULL")
                .bind(id).bind(org).execute(pool).await,
            None => sqlx::query("DELETE FROM identity_groups WHERE org_id = $1 AND builtin IS NULL")
                .bind(org).execute(pool).await,
        }.map_err(StoreError::query("delete groups"))?.rows_affected());
        Ok(n)
    }

    // ----- robot accounts -----

    /// Creates a robot account in `org`.
    pub async fn create_robot_account(
        &self,
        org: OrganizationId,
        name: &str,
        display_name: &str,
    ) -> Result<RobotAccount, StoreError> {
        let id = Uuid::now_v7();
        on_db!(self.db(), pool => sqlx::query(
                "INSERT INTO robot_accounts (id, org_id, name, display_name, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id).bind(org).bind(name).bind(display_name).bind(now_ms())
            .execute(pool).await.map_err(StoreError::write("create robot account", "robot account"))?.rows_affected());
        Ok(RobotAccount {
            id,
            number: self.number_of(IdentityKind::RobotAccount, id).await?,
            org,
            name: name.to_owned(),
            display_name: display_name.to_owned(),
        })
    }

    /// Robot accounts of `org` (one when `id` is given), by name.
    pub async fn list_robot_accounts(
        &self,
        org: OrganizationId,
        id: Option<Uuid>,
    ) -> Result<Vec<RobotAccount>, StoreError> {
        let rows: Vec<(Uuid, Option<i64>, String, String)> = on_db!(self.db(), pool => match id {
            Some(id) => sqlx::query_as(
                    "SELECT id, number, name, display_name FROM robot_accounts WHERE org_id = $1 AND id = $2")
                .bind(org).bind(id).fetch_all(pool).await,
            None => sqlx::query_as(
                    "SELECT id, number, name, display_name FROM robot_accounts WHERE org_id = $1 ORDER BY name")
                .bind(org).fetch_all(pool).await,
        }.map_err(StoreError::query("list robot accounts"))?);
        rows.into_iter()
            .map(|(id, number, name, display_name)| {
                Ok(RobotAccount {
                    id,
                    number: numbered(number, IdentityKind::RobotAccount, id)?,
                    org,
                    name,
                    display_name,
                })
            })
            .collect()
    }

    /// Updates a robot account's display name; false if not in `org`.
    pub async fn update_robot_account(
        &self,
        org: OrganizationId,
        id: Uuid,
        display_name: &str,
    ) -> Result<bool, StoreError> {
        let n = on_db!(self.db(), pool => sqlx::query(
                "UPDATE robot_accounts SET display_name = $1 WHERE id = $2 AND org_id = $3")
            .bind(display_name).bind(id).bind(org)
            .execute(pool).await.map_err(StoreError::query("update robot account"))?.rows_affected());
        Ok(n > 0)
    }

    /// Deletes one robot account of `org` (`Some(id)`) or all; rows deleted.
    pub async fn delete_robot_accounts(
        &self,
        org: OrganizationId,
        id: Option<Uuid>,
    ) -> Result<u64, StoreError> {
        let n = on_db!(self.db(), pool => match id {
            Some(id) => sqlx::query("DELETE FROM robot_accounts WHERE id = $1 AND org_id = $2")
                .bind(id).bind(org).execute(pool).await,
            None => sqlx::query("DELETE FROM robot_accounts WHERE org_id = $1")
                .bind(org).execute(pool).await,
        }.map_err(StoreError::query("delete robot accounts"))?.rows_affected());
        Ok(n)
    }

    // ----- roles -----

    /// Creates a role in `org`.
    pub async fn create_role(
        &self,
        org: OrganizationId,
        name: &str,
        permissions: &[String],
    ) -> Result<Role, StoreError> {
        let id = Uuid::now_v7();
        on_db!(self.db(), pool => sqlx::query(
                "INSERT INTO identity_roles (id, org_id, name, permissions, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id).bind(org).bind(name).bind(permissions.join(" ")).bind(now_ms())
            .execute(pool).await.map_err(StoreError::write("create role", "role"))?.rows_affected());
        Ok(Role {
            id,
            number: self.number_of(IdentityKind::Role, id).await?,
            org,
            name: name.to_owned(),
            permissions: permissions.to_vec(),
            builtin: None,
        })
    }

    /// Roles of `org` (built-in and the organization's own), by name.
    pub async fn list_roles(&self, org: OrganizationId) -> Result<Vec<Role>, StoreError> {
        #[allow(clippy::type_complexity)]
        let rows: Vec<(Uuid, Option<i64>, String, String, Option<String>)> = on_db!(self.db(), pool => sqlx::query_as(
                "SELECT id, number, name, permissions, builtin FROM identity_roles WHERE org_id = $1 ORDER BY name")
            .bind(org).fetch_all(pool).await.map_err(StoreError::query("list roles"))?);
        rows.into_iter()
            .map(|(id, number, name, p, builtin)| {
                Ok(Role {
                    id,
                    number: numbered(number, IdentityKind::Role, id)?,
                    org,
                    name,
                    permissions: split_list(&p),
                    builtin,
                })
            })
            .collect()
    }

    /// Every role assignment of `org`: (principal id, role id), by principal.
    pub async fn role_assignments(
        &self,
        org: OrganizationId,
    ) -> Result<Vec<(Uuid, Uuid)>, StoreError> {
        on_db!(self.db(), pool => sqlx::query_as(
                "SELECT principal_id, role_id FROM identity_role_assignments WHERE org_id = $1 \
                 ORDER BY principal_id, role_id")
            .bind(org).fetch_all(pool).await.map_err(StoreError::query("role assignments")))
    }

    /// Replaces the roles of a principal (user, group or robot account) of
    /// `org`. Refuses ([`StoreError::NotFound`]) a role id that is not a
    /// role of `org`, before changing anything.
    pub async fn assign_roles(
        &self,
        org: OrganizationId,
        principal: Uuid,
        roles: &[Uuid],
    ) -> Result<(), StoreError> {
        let known: Vec<Uuid> = self
            .list_roles(org)
            .await?
            .into_iter()
            .map(|r| r.id)
            .collect();
        if let Some(bad) = roles.iter().find(|r| !known.contains(r)) {
            return Err(StoreError::NotFound {
                what: "role",
                id: bad.to_string(),
            });
        }
        on_db!(self.db(), pool => {
            sqlx::query("DELETE FROM identity_role_assignments WHERE principal_id = $1 AND org_id = $2")
                .bind(principal).bind(org).execute(pool).await.map_err(StoreError::query("assign roles"))?;
            for r in roles {
                sqlx::query("INSERT INTO identity_role_assignments (org_id, role_id, principal_id) VALUES ($1, $2, $3) \
                             ON CONFLICT DO NOTHING")
                    .bind(org).bind(r).bind(principal).execute(pool).await.map_err(StoreError::query("assign roles"))?;
            }
        });
        Ok(())
    }

    /// Role ids assigned to a principal of `org`.
    pub async fn roles_of(
        &self,
        org: OrganizationId,
        principal: Uuid,
    ) -> Result<Vec<Uuid>, StoreError> {
        let rows: Vec<(Uuid,)> = on_db!(self.db(), pool => sqlx::query_as(
                "SELECT role_id FROM identity_role_assignments WHERE principal_id = $1 AND org_id = $2 ORDER BY role_id")
            .bind(principal).bind(org).fetch_all(pool).await.map_err(StoreError::query("roles of"))?);
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Renames a role of `org` and replaces its permissions; false if not in `org`.
    pub async fn update_role(
        &self,
        org: OrganizationId,
        id: Uuid,
        name: &str,
        permissions: &[String],
    ) -> Result<bool, StoreError> {
        let n = on_db!(self.db(), pool => sqlx::query(
                "UPDATE identity_roles SET name = $1, permissions = $2 WHERE id = $3 AND org_id = $4")
            .bind(name).bind(permissions.join(" ")).bind(id).bind(org)
            .execute(pool).await.map_err(StoreError::write("update role", "role"))?.rows_affected());
        Ok(n > 0)
    }

    /// Deletes a role of `org` and its assignments (the foreign key
    /// cascades); false if not in `org` or built-in (never deleted).
    pub async fn delete_role(&self, org: OrganizationId, id: Uuid) -> Result<bool, StoreError> {
        let n = on_db!(self.db(), pool => sqlx::query(
                "DELETE FROM identity_roles WHERE id = $1 AND org_id = $2 AND builtin IS NULL")
            .bind(id).bind(org)
            .execute(pool).await.map_err(StoreError::query("delete role"))?.rows_affected());
        Ok(n > 0)
    }

    // ----- settings -----

    /// Settings of `org` with the given keys (all when `keys` is empty).
    pub async fn get_settings(
        &self,
        org: OrganizationId,
        keys: &[String],
    ) -> Result<Vec<(String, String)>, StoreError> {
        let rows: Vec<(String, String)> = on_db!(self.db(), pool => sqlx::query_as(
                "SELECT key, value FROM org_settings WHERE org_id = $1 ORDER BY key")
            .bind(org).fetch_all(pool).await.map_err(StoreError::query("get settings"))?);
        Ok(rows
            .into_iter()
            .filter(|(k, _)| keys.is_empty() || keys.contains(k))
            .collect())
    }

    /// Creates or updates settings of `org`.
    pub async fn put_settings(
        &self,
        org: OrganizationId,
        settings: &[(String, String)],
    ) -> Result<(), StoreError> {
        on_db!(self.db(), pool => for (k, v) in settings {
            sqlx::query("INSERT INTO org_settings (org_id, key, value) VALUES ($1, $2, $3) \
                         ON CONFLICT (org_id, key) DO UPDATE SET value = excluded.value")
                .bind(org).bind(k).bind(v).execute(pool).await.map_err(StoreError::query("put settings"))?;
        });
        Ok(())
    }

    // ----- message templates -----

    /// Creates a message template in `org`.
    pub async fn create_message_template(
        &self,
        org: OrganizationId,
        name: &str,
        value: &str,
    ) -> Result<MessageTemplate, StoreError> {
        let id = Uuid::now_v7();
        on_db!(self.db(), pool => sqlx::query(
                "INSERT INTO message_templates (id, org_id, name, value) VALUES ($1, $2, $3, $4)")
            .bind(id).bind(org).bind(name).bind(value)
            .execute(pool).await.map_err(StoreError::write("create message template", "message template"))?.rows_affected());
        Ok(MessageTemplate {
            id,
            org,
            name: name.to_owned(),
            value: value.to_owned(),
            builtin: None,
        })
    }

    /// Message templates of `org`: one by id, or filtered by name.
    pub async fn find_message_templates(
        &self,
        org: OrganizationId,
        id: Option<Uuid>,
        name: Option<&str>,
    ) -> Result<Vec<MessageTemplate>, StoreError> {
        let rows: Vec<(Uuid, String, String, Option<String>)> = on_db!(self.db(), pool => sqlx::query_as(
                "SELECT id, name, value, builtin FROM message_templates WHERE org_id = $1 ORDER BY name")
            .bind(org).fetch_all(pool).await.map_err(StoreError::query("message templates"))?);
        Ok(rows
            .into_iter()
            .filter(|(i, n, _, _)| {
                id.is_none_or(|id| id == *i) && name.is_none_or(|name| name == n)
            })
            .map(|(id, name, value, builtin)| MessageTemplate {
                id,
                org,
                name,
                value,
                builtin,
            })
            .collect())
    }

    /// Updates a template's text; false if not in `org`.
    pub async fn update_message_template(
        &self,
        org: OrganizationId,
        id: Uuid,
        value: &str,
    ) -> Result<bool, StoreError> {
        let n = on_db!(self.db(), pool => sqlx::query(
                "UPDATE message_templates SET value = $1 WHERE id = $2 AND org_id = $3")
            .bind(value).bind(id).bind(org)
            .execute(pool).await.map_err(StoreError::query("update message template"))?.rows_affected());
        Ok(n > 0)
    }

    /// Deletes a template of `org`; false if not in `org` or built-in
    /// (never deleted).
    pub async fn delete_message_template(
        &self,
        org: OrganizationId,
        id: Uuid,
    ) -> Result<bool, StoreError> {
        let n = on_db!(self.db(), pool => sqlx::query(
                "DELETE FROM message_templates WHERE id = $1 AND org_id = $2 AND builtin IS NULL")
            .bind(id).bind(org)
            .execute(pool).await.map_err(StoreError::query("delete message template"))?.rows_affected());
        Ok(n > 0)
    }

    // ----- external applications and access tokens -----

    /// Registers an external application of `org`.
    pub async fn create_external_app(
        &self,
        org: OrganizationId,
        name: &str,
        client_id: &str,
        secret_hash: &str,
        scopes: &[String],
    ) -> Result<Uuid, StoreError> {
        let id = Uuid::now_v7();
        on_db!(self.db(), pool => sqlx::query(
                "INSERT INTO external_apps (id, org_id, name, client_id, secret_hash, scopes, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(id).bind(org).bind(name).bind(client_id).bind(secret_hash).bind(scopes.join(" ")).bind(now_ms())
            .execute(pool).await.map_err(StoreError::write("create external app", "external application"))?.rows_affected());
        Ok(id)
    }

    /// The application a client id names, in whichever organization registered it.
    pub async fn find_external_app(
        &self,
        client_id: &str,
    ) -> Result<Option<ExternalApp>, StoreError> {
        let row: Option<(Uuid, Uuid, String, String)> = on_db!(self.db(), pool => sqlx::query_as(
                "SELECT id, org_id, secret_hash, scopes FROM external_apps WHERE client_id = $1")
            .bind(client_id).fetch_optional(pool).await.map_err(StoreError::query("find external app"))?);
        Ok(row.map(|(id, org, secret_hash, scopes)| ExternalApp {
            id,
            org: org.into(),
            client_id: client_id.to_owned(),
            secret_hash,
            scopes: split_list(&scopes),
        }))
    }

    /// The applications `org` registered, by name (never a secret or its hash).
    pub async fn list_external_apps(
        &self,
        org: OrganizationId,
    ) -> Result<Vec<RegisteredApp>, StoreError> {
        let rows: Vec<(Uuid, String, String, String, i64)> = on_db!(self.db(), pool => sqlx::query_as(
                "SELECT id, name, client_id, scopes, created_at FROM external_apps WHERE org_id = $1 ORDER BY name, id")
            .bind(org).fetch_all(pool).await.map_err(StoreError::query("list external apps"))?);
        Ok(rows
            .into_iter()
            .map(|(id, name, client_id, scopes, at)| RegisteredApp {
                id,
                org,
                name,
                client_id,
                scopes: split_list(&scopes),
                created_at: from_ms(at),
            })
            .collect())
    }

    /// Renames an application of `org`, replaces its scopes and revokes
    /// its access tokens (they carry the old scopes); false if not in `org`.
    pub async fn update_external_app(
        &self,
        org: OrganizationId,
        id: Uuid,
        name: &str,
        scopes: &[String],
    ) -> Result<bool, StoreError> {
        let n = on_db!(self.db(), pool => sqlx::query(
                "UPDATE external_apps SET name = $1, scopes = $2 WHERE id = $3 AND org_id = $4")
            .bind(name).bind(scopes.join(" ")).bind(id).bind(org)
            .execute(pool).await.map_err(StoreError::query("update external app"))?.rows_affected());
        if n > 0 {
            self.revoke_access_tokens(org, id).await?;
        }
        Ok(n > 0)
    }

    /// Replaces the secret hash of an application of `org` and revokes its
    /// access tokens (a rotation usually follows a leak); false if not in `org`.
    pub async fn set_external_app_secret_hash(
        &self,
        org: OrganizationId,
        id: Uuid,
        secret_hash: &str,
    ) -> Result<bool, StoreError> {
        let n = on_db!(self.db(), pool => sqlx::query(
                "UPDATE external_apps SET secret_hash = $1 WHERE id = $2 AND org_id = $3")
            .bind(secret_hash).bind(id).bind(org)
            .execute(pool).await.map_err(StoreError::query("rotate external app secret"))?.rows_affected());
        if n > 0 {
            self.revoke_access_tokens(org, id).await?;
        }
        Ok(n > 0)
    }

    /// Deletes an application of `org` with its access tokens; false if not in `org`.
    pub async fn delete_external_app(
        &self,
        org: OrganizationId,
        id: Uuid,
    ) -> Result<bool, StoreError> {
        self.revoke_access_tokens(org, id).await?;
        let n = on_db!(self.db(), pool => sqlx::query(
                "DELETE FROM external_apps WHERE id = $1 AND org_id = $2")
            .bind(id).bind(org)
            .execute(pool).await.map_err(StoreError::query("delete external app"))?.rows_affected());
        Ok(n > 0)
    }

    /// Deletes every access token issued to an application of `org`.
    pub async fn revoke_access_tokens(
        &self,
        org: OrganizationId,
        app: Uuid,
    ) -> Result<u64, StoreError> {
        let n = on_db!(self.db(), pool => sqlx::query(
                "DELETE FROM access_tokens WHERE app_id = $1 AND org_id = $2")
            .bind(app).bind(org)
            .execute(pool).await.map_err(StoreError::query("revoke access tokens"))?.rows_affected());
        Ok(n)
    }

    /// Stores the SHA-256 hash of an issued access token.
    pub async fn store_access_token(
        &self,
        org: OrganizationId,
        app: Uuid,
        token_hash: &str,
        scopes: &[String],
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        on_db!(self.db(), pool => sqlx::query(
                "INSERT INTO access_tokens (token_hash, org_id, app_id, scopes, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(token_hash).bind(org).bind(app).bind(scopes.join(" ")).bind(to_ms(expires_at))
            .execute(pool).await.map_err(StoreError::query("store access token"))?.rows_affected());
        Ok(())
    }

    /// The token with this hash, expired or not (the caller checks expiry).
    pub async fn find_access_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<AccessToken>, StoreError> {
        let row: Option<(Uuid, Uuid, String, i64)> = on_db!(self.db(), pool => sqlx::query_as(
                "SELECT org_id, app_id, scopes, expires_at FROM access_tokens WHERE token_hash = $1")
            .bind(token_hash).fetch_optional(pool).await.map_err(StoreError::query("find access token"))?);
        Ok(row.map(|(org, app, scopes, exp)| AccessToken {
            org: org.into(),
            app,
            scopes: split_list(&scopes),
            expires_at: from_ms(exp),
        }))
    }

    // ----- login attempts -----

    /// Records a sign-in attempt of a user of `org`: `refused` is `None`
    /// when the user got in, else why not (`wrong_password`, `throttled`,
    /// `no_tenant`...).
    pub async fn record_login_attempt(
        &self,
        org: OrganizationId,
        user: UserId,
        refused: Option<&str>,
        client: &str,
    ) -> Result<(), StoreError> {
        let succeeded = refused.is_none();
        on_db!(self.db(), pool => sqlx::query(
                "INSERT INTO login_attempts (id, org_id, user_id, succeeded, client, created_at, reason) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(Uuid::now_v7()).bind(org).bind(user).bind(i64::from(succeeded)).bind(client).bind(now_ms())
            .bind(refused)
            .execute(pool).await.map_err(StoreError::query("record login attempt"))?.rows_affected());
        Ok(())
    }

    /// Failed sign-in attempts of a user of `org` at or after `since`
    /// (for throttling).
    pub async fn failed_login_attempts_since(
        &self,
        org: OrganizationId,
        user: UserId,
        since: OffsetDateTime,
    ) -> Result<i64, StoreError> {
        let (n,): (i64,) = on_db!(self.db(), pool => sqlx::query_as(
                "SELECT COUNT(*) FROM login_attempts \
                 WHERE org_id = $1 AND user_id = $2 AND succeeded = 0 AND created_at >= $3")
            .bind(org).bind(user).bind(to_ms(since))
            .fetch_one(pool).await.map_err(StoreError::query("count login attempts"))?);
        Ok(n)
    }

    /// Sign-in attempts of a user of `org`, newest first.
    pub async fn list_login_attempts(
        &self,
        org: OrganizationId,
        user: UserId,
    ) -> Result<Vec<LoginAttempt>, StoreError> {
        let rows: Vec<(Uuid, i64, String, i64, Option<String>)> = on_db!(self.db(), pool => sqlx::query_as(
                "SELECT id, succeeded, client, created_at, reason FROM login_attempts \
                 WHERE org_id = $1 AND user_id = $2 ORDER BY id DESC")
            .bind(org).bind(user).fetch_all(pool).await.map_err(StoreError::query("list login attempts"))?);
        Ok(rows
            .into_iter()
            .map(|(id, ok, client, at, reason)| LoginAttempt {
                id,
                user,
                succeeded: ok != 0,
                reason,
                client,
                created_at: from_ms(at),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_data_dir(dir.path(), None).await.unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn identity_rows_of_another_organization_are_not_found() {
        let (_d, s) = store().await;
        let a = s.create_organization("a").await.unwrap().id;
        let b = s.create_organization("b").await.unwrap().id;
        let g = s.create_group(b, "ops", &[]).await.unwrap();
        let r = s.create_robot_account(b, "bot", "Bot").await.unwrap();
        let role = s
            .create_role(b, "admin", &["Users.View".into()])
            .await
            .unwrap();
        assert!(s.get_group(a, g.id).await.unwrap().is_none());
        assert!(!s.update_group(a, g.id, "x", Some(&[])).await.unwrap());
        assert_eq!(s.delete_groups(a, Some(g.id)).await.unwrap(), 0);
        assert_eq!(s.delete_robot_accounts(a, None).await.unwrap(), 0);
        assert!(
            s.list_robot_accounts(a, Some(r.id))
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            s.assign_roles(a, g.id, &[role.id])
                .await
                .unwrap_err()
                .is_not_found()
        );
        assert!(s.get_group(b, g.id).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn assign_roles_replaces_the_role_set() {
        let (_d, s) = store().await;
        let org = s.create_organization("o").await.unwrap().id;
        let u = s.create_user(org, "u", "U", None).await.unwrap();
        let r1 = s.create_role(org, "r1", &[]).await.unwrap().id;
        let r2 = s.create_role(org, "r2", &[]).await.unwrap().id;
        let r3 = s.create_role(org, "r3", &[]).await.unwrap().id;
        s.assign_roles(org, u.id.0, &[r1, r2]).await.unwrap();
        s.assign_roles(org, u.id.0, &[r1, r3]).await.unwrap();
        let mut want = vec![r1, r3];
        want.sort();
        assert_eq!(s.roles_of(org, u.id.0).await.unwrap(), want);
    }
}
