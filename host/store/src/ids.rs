//! Identifier newtypes (UUID v7, so they sort by creation time) and the
//! [`Scope`] every tenant-owned query takes. Ids are plain values: they
//! must never carry authority by themselves — the scope a query runs in
//! decides what is visible.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type)]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh UUID v7 id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// The underlying UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                Self(u)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }
    };
}

id_type!(
    /// An organization (the top of the tenancy tree).
    OrganizationId
);
id_type!(
    /// A tenant inside an organization.
    TenantId
);
id_type!(
    /// A user of an organization.
    UserId
);
id_type!(
    /// A folder (personal workspace or shared folder) inside a tenant.
    FolderId
);
id_type!(
    /// A connection.
    ConnectionId
);
id_type!(
    /// A connector registered in a tenant (one version of one component).
    ConnectorId
);
id_type!(
    /// A pending OAuth authorization.
    PendingAuthorizationId
);
id_type!(
    /// A trigger (polling subscription).
    TriggerId
);
id_type!(
    /// An audit event.
    AuditEventId
);
id_type!(
    /// An API token's public id (opaque; never derived from the token).
    ApiTokenId
);
id_type!(
    /// An operator webhook (a tenant's receiver of operator events).
    OperatorWebhookId
);

/// The organization and tenant a query runs in. Rows of any other tenant
/// are simply not found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Scope {
    /// Organization.
    pub org: OrganizationId,
    /// Tenant (must belong to `org`).
    pub tenant: TenantId,
}

impl Scope {
    /// The scope of `tenant` in `org`.
    pub fn new(org: OrganizationId, tenant: TenantId) -> Self {
        Self { org, tenant }
    }
}
