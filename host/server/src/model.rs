//! The server's view of tenants, folders and connections: plain data the
//! handlers work on, independent of which persistence backs it.
//!
//! Never holds a secret: credentials live in the repository's secret slots
//! (encrypted by the vault when the store backs it) and are read only by
//! the glue in `services.rs`.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn new() -> Self {
                $name(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map($name)
            }
        }
    };
}

id_type!(/// An organization: owns tenants and their settings.
    OrgId);
id_type!(/// A tenant: the isolation boundary; nothing crosses it.
    TenantId);
id_type!(/// A user of one tenant.
    UserId);
id_type!(/// A folder: a personal workspace or a shared folder.
    FolderId);
id_type!(/// A connection: one authenticated account of one connector.
    ConnectionId);
id_type!(/// An API token's public id (opaque; says nothing about the token).
    ApiTokenId);

/// An API token as its owner sees it: never the token, never its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: ApiTokenId,
    pub user_id: UserId,
    pub name: String,
    pub created_at: OffsetDateTime,
    /// To within an hour; `None` if never used.
    pub last_used_at: Option<OffsetDateTime>,
}

/// Who is calling: resolved from the bearer token on every request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub org_id: OrgId,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub user_name: String,
    /// Tenant administrator: may manage every folder and org settings.
    pub is_admin: bool,
}

/// The store's scope (organization + tenant) from the ids a value carries;
/// no database read.
pub fn store_scope(org: OrgId, tenant: TenantId) -> plugboard_store::Scope {
    plugboard_store::Scope::new(
        plugboard_store::OrganizationId(org.0),
        plugboard_store::TenantId(tenant.0),
    )
}

impl Principal {
    /// The store's scope of the caller's tenant.
    pub fn store_scope(&self) -> plugboard_store::Scope {
        store_scope(self.org_id, self.tenant_id)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FolderKind {
    /// A user's own workspace; only its owner sees it.
    Personal,
    /// Usable and editable by every member.
    Shared,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Folder {
    pub id: FolderId,
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub name: String,
    pub kind: FolderKind,
    /// Owner of a personal workspace.
    pub owner: Option<UserId>,
    /// Members of a shared folder.
    pub members: Vec<UserId>,
}

impl Folder {
    /// Whether `user` may see, use and edit what is in this folder.
    pub fn visible_to(&self, p: &Principal) -> bool {
        FolderAccess {
            tenant_id: self.tenant_id,
            kind: self.kind,
            owner: self.owner,
            member: self.members.contains(&p.user_id).then_some(p.user_id),
        }
        .allows(p)
    }
}

/// What decides who may use a folder's contents, as read for one user
/// with a connection (without the folder's name or member list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FolderAccess {
    pub tenant_id: TenantId,
    pub kind: FolderKind,
    /// Owner of a personal workspace.
    pub owner: Option<UserId>,
    /// The user it was read for, if they are a member of the shared folder.
    pub member: Option<UserId>,
}

impl FolderAccess {
    /// Whether `p` may see, use and edit what is in the folder.
    pub fn allows(&self, p: &Principal) -> bool {
        if self.tenant_id != p.tenant_id {
            return false;
        }
        match self.kind {
            FolderKind::Personal => self.owner == Some(p.user_id),
            FolderKind::Shared => p.is_admin || self.member == Some(p.user_id),
        }
    }
}

/// Seed 001: Connected / Disconnected, plus Pending while an OAuth flow runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    Pending,
    Connected,
    Disconnected,
}

impl ConnectionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionStatus::Pending => "pending",
            ConnectionStatus::Connected => "connected",
            ConnectionStatus::Disconnected => "disconnected",
        }
    }
}

impl std::str::FromStr for ConnectionStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(ConnectionStatus::Pending),
            "connected" => Ok(ConnectionStatus::Connected),
            "disconnected" => Ok(ConnectionStatus::Disconnected),
            _ => Err(format!(
                "unknown status `{s}`; expected pending, connected or disconnected"
            )),
        }
    }
}

/// The provider account a connection's credential belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Account {
    pub id: String,
    pub display_name: String,
    pub email: Option<String>,
}

/// A connection. Its credential is not here.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Connection {
    pub id: ConnectionId,
    /// The tenant's organization: with `tenant_id`, the store's scope.
    pub org_id: OrgId,
    pub tenant_id: TenantId,
    pub folder_id: FolderId,
    pub connector_id: String,
    pub auth_kind: plugboard_manifest::AuthKind,
    pub name: String,
    pub account: Option<Account>,
    pub status: ConnectionStatus,
    /// Why the connection is broken, in our words (seed 001 "Message").
    pub status_message: Option<String>,
    /// The provider's own error text (seed 001 "Provider error message").
    pub provider_error: Option<String>,
    pub polling_frequency_seconds: Option<u32>,
    pub is_default: bool,
    pub granted_scopes: Vec<String>,
    /// Non-secret config values (base URL, header name, ...).
    pub config: Vec<(String, String)>,
    pub created_by: UserId,
    pub updated_by: UserId,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// The row's version, bumped by every change (the API's ETag), read
    /// with the row so the two always agree; 0 until the row is stored.
    #[serde(default)]
    pub version: i64,
}

/// Something that uses a connection (a trigger, a process, an app).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Reference {
    /// `trigger`, `process`, `app`, ...
    pub kind: String,
    /// The referencing object's id, in its own system.
    pub id: String,
    pub name: String,
}

/// An audit event: who did what, when, from where.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditEvent {
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: UserId,
    #[serde(skip)]
    pub tenant_id: TenantId,
    /// e.g. `connection.create`.
    pub action: String,
    /// e.g. the connection id.
    pub target: String,
    /// Client address, if known.
    pub source: Option<String>,
    pub request_id: Option<String>,
}

/// A custom connector component uploaded to a tenant.
#[derive(Debug, Clone)]
pub struct StoredComponent {
    pub tenant_id: TenantId,
    pub connector_id: String,
    pub version: String,
    /// Hex SHA-256 of the component bytes.
    pub content_hash: String,
    pub bytes: std::sync::Arc<Vec<u8>>,
    pub uploaded_by: UserId,
    pub uploaded_at: OffsetDateTime,
}

/// Organization settings the connections rules read.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct OrgSettings {
    /// Seed 001 governance: regular users may not create connections in
    /// shared folders (administrators still may).
    #[serde(default)]
    pub restrict_shared_connections: bool,
    /// Governance: the connectors new connections may use (ids); absent or
    /// `null` allows every connector. Existing connections keep working;
    /// creating or reconnecting one to a connector not listed is refused.
    #[serde(default)]
    pub allowed_connectors: Option<Vec<String>>,
}

impl OrgSettings {
    /// Whether new connections (and reconnections) may use `connector`.
    pub fn allows_connector(&self, connector: &str) -> bool {
        self.allowed_connectors
            .as_ref()
            .is_none_or(|list| list.iter().any(|c| c == connector))
    }
}
