-- Web console sign-in sessions. The session id is a random secret held in
-- the browser's HttpOnly cookie; only its SHA-256 is stored, with an
-- absolute expiry. Deleting the user (or their tenant membership) ends
-- their sessions.

CREATE TABLE sessions (
    id_sha256 TEXT PRIMARY KEY NOT NULL,
    user_id UUID NOT NULL REFERENCES tenant_users (user_id) ON DELETE CASCADE,
    org_id UUID NOT NULL,
    tenant_id UUID NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
CREATE INDEX sessions_by_user ON sessions (user_id);
