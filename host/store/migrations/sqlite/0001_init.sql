-- Plugboard schema, version 1. Generated for SQLite from one template; later
-- migrations are written per backend by hand.
-- Times are integer milliseconds since the Unix epoch (UTC). Ids are UUID v7.
-- Every tenant-owned row carries org_id and tenant_id, and every query of the
-- store filters on both: tenant isolation lives here.
-- Secret columns hold only vault output: key_version (the tenant data key
-- version), nonce, ciphertext. No plaintext secret has a column.

CREATE TABLE organizations (
    id BLOB PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE tenants (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (org_id, name),
    UNIQUE (org_id, id)
);

-- Users belong to an organization and may work in several of its tenants.
CREATE TABLE users (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_name TEXT NOT NULL,
    display_name TEXT NOT NULL,
    email TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (org_id, user_name),
    UNIQUE (org_id, id)
);

-- A personal workspace per user per tenant, and shared folders with members.
CREATE TABLE folders (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL,
    tenant_id BLOB NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('personal', 'shared')),
    name TEXT NOT NULL,
    owner_user_id BLOB,
    created_by BLOB,
    created_at INTEGER NOT NULL,
    FOREIGN KEY (org_id, tenant_id) REFERENCES tenants (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, owner_user_id) REFERENCES users (org_id, id) ON DELETE CASCADE,
    CHECK ((kind = 'personal') = (owner_user_id IS NOT NULL)),
    UNIQUE (tenant_id, id)
);
CREATE UNIQUE INDEX folders_one_personal_per_user ON folders (tenant_id, owner_user_id) WHERE kind = 'personal';
CREATE UNIQUE INDEX folders_shared_name ON folders (tenant_id, name) WHERE kind = 'shared';

CREATE TABLE folder_members (
    folder_id BLOB NOT NULL,
    org_id BLOB NOT NULL,
    tenant_id BLOB NOT NULL,
    user_id BLOB NOT NULL,
    role TEXT NOT NULL,
    added_at INTEGER NOT NULL,
    PRIMARY KEY (folder_id, user_id),
    FOREIGN KEY (tenant_id, folder_id) REFERENCES folders (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);
CREATE INDEX folder_members_by_user ON folder_members (tenant_id, user_id);

-- Uploaded component bytes, content-addressed (sha256 hex). Bundled
-- connectors ship inside the binary and have no row here.
CREATE TABLE component_blobs (
    content_hash TEXT PRIMARY KEY NOT NULL,
    bytes BLOB NOT NULL,
    size INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

-- Connectors available in a tenant (bundled or uploaded), by content hash.
CREATE TABLE connectors (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL,
    tenant_id BLOB NOT NULL,
    connector_key TEXT NOT NULL,
    version TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    origin TEXT NOT NULL CHECK (origin IN ('bundled', 'uploaded')),
    enabled BOOLEAN NOT NULL DEFAULT 1,
    created_by BLOB,
    created_at INTEGER NOT NULL,
    FOREIGN KEY (org_id, tenant_id) REFERENCES tenants (org_id, id) ON DELETE CASCADE,
    UNIQUE (tenant_id, connector_key, version)
);

CREATE TABLE connections (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL,
    tenant_id BLOB NOT NULL,
    folder_id BLOB NOT NULL,
    connector_key TEXT NOT NULL,
    auth_kind TEXT NOT NULL,
    account_id TEXT,
    account_display_name TEXT,
    name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('connected', 'disconnected', 'pending')),
    status_message TEXT,
    provider_error TEXT,
    polling_frequency_seconds INTEGER,
    is_default BOOLEAN NOT NULL DEFAULT 0,
    config TEXT NOT NULL DEFAULT '{}',
    granted_scopes TEXT NOT NULL DEFAULT '[]',
    created_by BLOB,
    created_at INTEGER NOT NULL,
    updated_by BLOB,
    updated_at INTEGER NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    FOREIGN KEY (org_id, tenant_id) REFERENCES tenants (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, folder_id) REFERENCES folders (tenant_id, id),
    UNIQUE (tenant_id, id)
);
-- At most one default connection per connector per folder.
CREATE UNIQUE INDEX connections_one_default ON connections (tenant_id, folder_id, connector_key) WHERE is_default;
CREATE INDEX connections_by_folder ON connections (tenant_id, folder_id, connector_key);

-- The connection's credential (token set, PAT, certificate...), sealed.
CREATE TABLE credentials (
    connection_id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL,
    tenant_id BLOB NOT NULL,
    key_version INTEGER NOT NULL,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    version INTEGER NOT NULL,
    expires_at INTEGER,
    updated_at INTEGER NOT NULL,
    FOREIGN KEY (tenant_id, connection_id) REFERENCES connections (tenant_id, id) ON DELETE CASCADE
);

-- The WIT credential-store: per-connection secrets a connector keeps.
CREATE TABLE connector_secrets (
    connection_id BLOB NOT NULL,
    name TEXT NOT NULL,
    org_id BLOB NOT NULL,
    tenant_id BLOB NOT NULL,
    key_version INTEGER NOT NULL,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (connection_id, name),
    FOREIGN KEY (tenant_id, connection_id) REFERENCES connections (tenant_id, id) ON DELETE CASCADE
);

-- OAuth authorizations in flight. The state is stored as its SHA-256 only;
-- the PKCE verifier is sealed (nullable when the flow has no PKCE).
CREATE TABLE pending_authorizations (
    id BLOB PRIMARY KEY NOT NULL,
    state_hash TEXT NOT NULL UNIQUE,
    org_id BLOB NOT NULL,
    tenant_id BLOB NOT NULL,
    connection_id BLOB NOT NULL,
    key_version INTEGER,
    nonce BLOB,
    ciphertext BLOB,
    redirect_uri TEXT NOT NULL,
    extra TEXT NOT NULL DEFAULT '{}',
    created_by BLOB,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used BOOLEAN NOT NULL DEFAULT 0,
    FOREIGN KEY (tenant_id, connection_id) REFERENCES connections (tenant_id, id) ON DELETE CASCADE
);

-- Triggers (polling subscriptions) and their cursors. A connection with
-- triggers cannot be deleted (no cascade).
CREATE TABLE triggers (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL,
    tenant_id BLOB NOT NULL,
    connection_id BLOB NOT NULL,
    trigger_name TEXT NOT NULL,
    config TEXT NOT NULL DEFAULT '{}',
    poll_interval_seconds INTEGER NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT 1,
    cursor TEXT,
    next_poll_at INTEGER NOT NULL,
    last_polled_at INTEGER,
    last_error TEXT,
    created_by BLOB,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    FOREIGN KEY (tenant_id, connection_id) REFERENCES connections (tenant_id, id),
    UNIQUE (tenant_id, id)
);
CREATE INDEX triggers_due ON triggers (next_poll_at) WHERE enabled;
CREATE INDEX triggers_by_connection ON triggers (tenant_id, connection_id);

CREATE TABLE audit_events (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    tenant_id BLOB,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target_kind TEXT,
    target_id TEXT,
    outcome TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL
);
CREATE INDEX audit_events_by_time ON audit_events (org_id, created_at);

-- Leases for single-flight work across replicas (token refresh, polling).
-- expires_at is in the database's clock, so replicas' clocks do not matter.
CREATE TABLE leases (
    name TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    acquired_at INTEGER NOT NULL
);

-- Vault metadata: root key check values and wrapped tenant data keys.
CREATE TABLE vault_root_keys (
    version INTEGER PRIMARY KEY NOT NULL,
    check_value BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE vault_data_keys (
    tenant_id BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    root_version INTEGER NOT NULL,
    nonce BLOB NOT NULL,
    wrapped BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, version)
);

-- Resumable key passes (re-encrypt) record their progress here.
CREATE TABLE vault_state (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
