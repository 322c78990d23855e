-- Webhooks, what #16 left (migration 0015).
--
-- Secret rotation: the secret replaced last keeps signing beside the new
-- one until `previous_secret_until` (both signatures in one header), so a
-- receiver can switch over without dropping a message.
ALTER TABLE webhook_endpoints ADD COLUMN previous_secret_enc TEXT;
ALTER TABLE webhook_endpoints ADD COLUMN previous_secret_until BIGINT;
-- When the endpoint's current run of failed attempts began (NULL: its last
-- attempt succeeded). Three days of failing disables it.
ALTER TABLE webhook_endpoints ADD COLUMN failing_since BIGINT;

-- The delivery log: one row per attempt (a delivery row holds only the
-- last). Kept 30 days like the deliveries.
CREATE TABLE webhook_attempts (
    id           TEXT PRIMARY KEY,
    delivery_id  TEXT NOT NULL,
    endpoint_id  TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    attempt      BIGINT NOT NULL,
    attempted_at BIGINT NOT NULL,
    status       BIGINT,
    body         TEXT,
    error        TEXT
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, attempted_at);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id);

-- Order per endpoint: a delivery waits while an earlier one of its
-- endpoint is being retried; this index answers "is there one" without
-- reading the endpoint's delivered history.
CREATE INDEX webhook_deliveries_endpoint_state ON webhook_deliveries (endpoint_id, state, created_at);
