//! Persistence for Plugboard: one API over SQLite (the embedded default: a
//! file in the data directory, WAL mode, foreign keys on) and PostgreSQL
//! (several replicas), with embedded migrations applied at start.
//!
//! This crate owns every row: tenancy (organizations, tenants, users,
//! folders), connectors, connections, sealed credentials and connector
//! secrets, pending OAuth authorizations, triggers, audit events, leases,
//! console sign-in sessions (by SHA-256 of the id only),
//! and the vault's wrapped keys (it implements [`plugboard_vault::KeyStore`]).
//! Tenant isolation lives here: every tenant-owned query takes a [`Scope`]
//! and filters on organization and tenant, so rows of another tenant are
//! simply not found. It must never store a secret unsealed, never log one,
//! and never know about HTTP or WebAssembly.
//!
//! Uploaded component bytes live in the database (`component_blobs`, by
//! content hash), so every replica sees the same components without shared
//! disk; bundled components ship in the binary and only have a row in
//! `connectors`.

#![deny(missing_docs)]

mod audit;
mod connection_use;
mod connections;
mod connectors;
mod db;
mod error;
mod identity;
mod ids;
mod leases;
mod oauth_apps;
mod operator_webhooks;
mod rotation;
mod secrets;
mod server_support;
mod sessions;
mod store;
mod tenancy;
pub mod token_cache;
mod triggers;
pub mod ttl_cache;
mod vault_keys;

pub use audit::{AuditEvent, AuditFilter, NewAuditEvent};
pub use connection_use::{ConnectionForUse, DEFAULT_CONNECTION_CACHE_TTL};
pub use connections::{
    Connection, ConnectionFilter, ConnectionPatch, ConnectionStatus, NewConnection,
};
pub use connectors::{ConnectorOrigin, ConnectorRecord, NewConnector, content_hash};
pub use db::{Database, Db};
pub use error::StoreError;
pub use identity::{
    AccessToken, BUILT_IN_GROUPS, BUILT_IN_ROLES, BUILT_IN_TEMPLATES, BuiltIn, DirectoryEntry,
    EVERYONE, ExternalApp, Group, IdentityKind, LoginAttempt, MessageTemplate, RegisteredApp,
    RobotAccount, Role,
};
pub use ids::{
    ApiTokenId, AuditEventId, ConnectionId, ConnectorId, FolderId, OperatorWebhookId,
    OrganizationId, PendingAuthorizationId, Scope, TenantId, TriggerId, UserId,
};
pub use oauth_apps::{OAUTH_APP_DEFAULT_FIELD, OAuthAppDefault};
pub use operator_webhooks::{OPERATOR_WEBHOOK_FIELD, OperatorWebhook};
pub use plugboard_vault::{
    Progress, RootKeySource, RootRotation, SecretBytes, SecretString, progress_bar,
};
pub use rotation::{ReencryptReport, RotationReport};
pub use secrets::{
    CONNECTOR_SECRET_FIELD, CREDENTIAL_FIELD, Credential, NewPendingAuthorization, PKCE_FIELD,
    PendingAuthorization,
};
pub use server_support::{
    ApiToken, ConnectionReference, ConnectionSettings, ConnectionState, TOKEN_LAST_USED_PRECISION,
    TokenOwner,
};
pub use store::{Store, StoreOptions};
pub use tenancy::{Folder, FolderKind, Organization, Tenant, User};
pub use token_cache::DEFAULT_TOKEN_CACHE_TTL;
pub use triggers::{NewTrigger, Trigger};
