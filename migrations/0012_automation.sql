-- Scoped API tokens (#16): a name, scopes (`read`, `write`, `admin`,
-- separated by spaces) and where it was last used. Tokens made before
-- (from e-mail and password) have no name and every scope: they act as
-- their operator, whose role still limits them.
ALTER TABLE api_tokens ADD COLUMN name TEXT;
ALTER TABLE api_tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT 'read write admin';
ALTER TABLE api_tokens ADD COLUMN last_used_ip TEXT;

-- Webhook endpoints (#16): a vendor's, or global (vendor_id NULL, made by
-- an administrator: it gets every vendor's events). `events` holds the
-- event types with a space before and after each, so one LIKE finds the
-- subscribers. The signing secret is kept encrypted with the server key.
CREATE TABLE webhook_endpoints (
    id              TEXT PRIMARY KEY,
    vendor_id       TEXT REFERENCES vendors (id),
    url             TEXT NOT NULL,
    events          TEXT NOT NULL,
    enabled         BIGINT NOT NULL DEFAULT 1,
    secret_enc      TEXT NOT NULL,
    disabled_reason TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_vendor ON webhook_endpoints (vendor_id);

-- One row per event and endpoint: the webhook outbox, leased and retried
-- like the mail outbox, and the delivery log (kept 30 days).
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT,
    created_at      BIGINT NOT NULL,
    last_attempt_at BIGINT,
    last_status     BIGINT,
    last_body       TEXT,
    last_error      TEXT,
    delivered_at    BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at);
