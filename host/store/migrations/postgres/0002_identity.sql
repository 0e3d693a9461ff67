-- Identity (issue 7): local passwords, groups, robot accounts, roles,
-- organization settings, message templates, external applications and
-- their access tokens, login attempts. Every row carries org_id and every
-- query of host/store/src/identity.rs filters on it.
-- Secrets: only argon2 hashes (passwords, app secrets) and SHA-256 hashes
-- (access tokens) are stored; no plaintext secret has a column.

ALTER TABLE users ADD COLUMN password_hash TEXT;
ALTER TABLE users ADD COLUMN culture TEXT;

CREATE TABLE identity_groups (
    id UUID PRIMARY KEY NOT NULL,
    org_id UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (org_id, name),
    UNIQUE (org_id, id)
);

CREATE TABLE identity_group_members (
    org_id UUID NOT NULL,
    group_id UUID NOT NULL,
    member_id UUID NOT NULL,
    PRIMARY KEY (group_id, member_id),
    FOREIGN KEY (org_id, group_id) REFERENCES identity_groups (org_id, id) ON DELETE CASCADE
);

CREATE TABLE robot_accounts (
    id UUID PRIMARY KEY NOT NULL,
    org_id UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    display_name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (org_id, name),
    UNIQUE (org_id, id)
);

CREATE TABLE identity_roles (
    id UUID PRIMARY KEY NOT NULL,
    org_id UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    permissions TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (org_id, name),
    UNIQUE (org_id, id)
);

-- principal_id is a user, group or robot account of the same organization.
CREATE TABLE identity_role_assignments (
    org_id UUID NOT NULL,
    role_id UUID NOT NULL,
    principal_id UUID NOT NULL,
    PRIMARY KEY (role_id, principal_id),
    FOREIGN KEY (org_id, role_id) REFERENCES identity_roles (org_id, id) ON DELETE CASCADE
);

CREATE TABLE org_settings (
    org_id UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (org_id, key)
);

CREATE TABLE message_templates (
    id UUID PRIMARY KEY NOT NULL,
    org_id UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    UNIQUE (org_id, name),
    UNIQUE (org_id, id)
);

CREATE TABLE external_apps (
    id UUID PRIMARY KEY NOT NULL,
    org_id UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    client_id TEXT NOT NULL UNIQUE,
    secret_hash TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (org_id, id)
);

CREATE TABLE access_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    org_id UUID NOT NULL,
    app_id UUID NOT NULL,
    scopes TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    FOREIGN KEY (org_id, app_id) REFERENCES external_apps (org_id, id) ON DELETE CASCADE
);

CREATE TABLE login_attempts (
    id UUID PRIMARY KEY NOT NULL,
    org_id UUID NOT NULL,
    user_id UUID NOT NULL,
    succeeded BIGINT NOT NULL,
    client TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);
CREATE INDEX login_attempts_by_user ON login_attempts (org_id, user_id, created_at);
