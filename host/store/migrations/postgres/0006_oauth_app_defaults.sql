-- An organization's default OAuth app per connector (bring your own app,
-- seed 000 governance): used when a user connects with "your own app" and
-- gives none. The client id is not secret; the client secret is sealed
-- with the tenant's data key (AAD field `oauth-app-default:<connector>`).

CREATE TABLE oauth_app_defaults (
    org_id UUID NOT NULL,
    tenant_id UUID NOT NULL,
    connector TEXT NOT NULL,
    client_id TEXT NOT NULL,
    key_version BIGINT NOT NULL,
    nonce BYTEA NOT NULL,
    ciphertext BYTEA NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, connector),
    FOREIGN KEY (org_id, tenant_id) REFERENCES tenants (org_id, id) ON DELETE CASCADE
);
