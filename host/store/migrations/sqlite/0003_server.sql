-- What plugboard-server needs beyond 0001: which tenant a user works in
-- (and whether they administer it), API tokens by SHA-256 only, things
-- that use a connection (processes, apps) and the account e-mail. The
-- organization's restrict_shared_connections lives in 0002's org_settings.

CREATE TABLE tenant_users (
    user_id BLOB PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    org_id BLOB NOT NULL,
    tenant_id BLOB NOT NULL,
    is_admin BOOLEAN NOT NULL DEFAULT 0,
    FOREIGN KEY (org_id, tenant_id) REFERENCES tenants (org_id, id) ON DELETE CASCADE
);
CREATE INDEX tenant_users_tenant ON tenant_users (org_id, tenant_id);

-- The token itself is never stored.
CREATE TABLE api_tokens (
    token_sha256 TEXT PRIMARY KEY NOT NULL,
    user_id BLOB NOT NULL REFERENCES tenant_users (user_id) ON DELETE CASCADE,
    org_id BLOB NOT NULL,
    tenant_id BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE connection_references (
    connection_id BLOB NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    org_id BLOB NOT NULL,
    tenant_id BLOB NOT NULL,
    kind TEXT NOT NULL,
    ref_id TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (connection_id, kind, ref_id)
);

ALTER TABLE connections ADD COLUMN account_email TEXT;
