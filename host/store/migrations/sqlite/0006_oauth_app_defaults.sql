-- An organization's default OAuth app per connector (bring your own app,
-- seed 000 governance): used when a user connects with "your own app" and
-- gives none. The client id is not secret; the client secret is sealed
-- with the tenant's data key (AAD field `oauth-app-default:<connector>`).

CREATE TABLE oauth_app_defaults (
    org_id BLOB NOT NULL,
    tenant_id BLOB NOT NULL,
    connector TEXT NOT NULL,
    client_id TEXT NOT NULL,
    key_version INTEGER NOT NULL,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, connector),
    FOREIGN KEY (org_id, tenant_id) REFERENCES tenants (org_id, id) ON DELETE CASCADE
);
