CREATE TABLE invites (
    id                 TEXT PRIMARY KEY,
    license_id         TEXT NOT NULL REFERENCES licenses (id) ON DELETE CASCADE,
    username           TEXT NOT NULL,
    email              TEXT NOT NULL,
    software_type      TEXT NOT NULL CHECK (software_type IN ('standard', 'server')),
    store_deleted_days BIGINT NOT NULL CHECK (store_deleted_days BETWEEN 1 AND 3650),
    -- the code encrypted with the server key, and a keyed hash to check it
    code_enc           TEXT NOT NULL,
    code_hash          TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    expires_at         BIGINT NOT NULL,
    -- when the SMTP server accepted the last invitation e-mail
    sent_at            BIGINT,
    -- not_sent, queued, retrying, sent, failed
    delivery_state     TEXT NOT NULL DEFAULT 'not_sent',
    delivery_error     TEXT,
    next_attempt_at    BIGINT,
    used_at            BIGINT,
    revoked_at         BIGINT
);
-- Usernames are unique across the service while the invite is not revoked.
CREATE UNIQUE INDEX invites_username_key ON invites (username) WHERE revoked_at IS NULL;
CREATE INDEX invites_license ON invites (license_id, id);

-- Messages to send. The body is rendered when sent (so no activation code
-- is ever stored in clear); a row is claimed with a lease, so a worker that
-- dies mid-send releases it when the lease runs out.
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    invite_id       TEXT REFERENCES invites (id) ON DELETE CASCADE,
    recipient       TEXT NOT NULL,
    -- pending, sending, sent, failed
    state           TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT,
    last_error      TEXT,
    -- for kinds without an invite (test mail): subject and text
    payload         TEXT,
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
