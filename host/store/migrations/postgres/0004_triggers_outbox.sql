-- The trigger outbox (plugboard-triggers): queued events with their
-- delivery state, the scheduler's per-subscription bookkeeping, the last
-- connection status it saw (so a break or recovery is announced once), and
-- operator webhooks (the tenant's operator events pushed to a URL).
-- Subscription ids are text: a trigger id, `operator` for the tenant's
-- operator feed, or `operator-webhook:<id>`. Times are milliseconds.

CREATE TABLE trigger_events (
    seq BIGSERIAL PRIMARY KEY,
    subscription_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    destination_url TEXT,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    locked_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT,
    UNIQUE (subscription_id, event_id)
);
CREATE INDEX trigger_events_due ON trigger_events (state, next_attempt_at);
CREATE INDEX trigger_events_feed ON trigger_events (org_id, tenant_id, subscription_id, seq);

CREATE TABLE trigger_schedule (
    trigger_id TEXT PRIMARY KEY,
    last_polled_at BIGINT,
    failures BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE trigger_connection_watch (
    connection_id TEXT PRIMARY KEY,
    status TEXT NOT NULL
);

-- The signing secret is vault output only (sealed for the tenant, bound to
-- the webhook id), re-encrypted by key rotation like connector secrets.
CREATE TABLE operator_webhooks (
    id UUID PRIMARY KEY NOT NULL,
    org_id UUID NOT NULL,
    tenant_id UUID NOT NULL,
    url TEXT NOT NULL,
    key_version BIGINT NOT NULL,
    nonce BYTEA NOT NULL,
    ciphertext BYTEA NOT NULL,
    created_by UUID,
    created_at BIGINT NOT NULL,
    FOREIGN KEY (org_id, tenant_id) REFERENCES tenants (org_id, id) ON DELETE CASCADE
);
CREATE INDEX operator_webhooks_tenant ON operator_webhooks (org_id, tenant_id);
