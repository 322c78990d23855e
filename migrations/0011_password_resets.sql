-- Password reset by e-mail: a single-use link valid 30 minutes. The token
-- is looked up by its keyed hash; it is also kept encrypted (with the
-- server key) only so the mail worker can put it in the message when it
-- sends it — the outbox row holds no secret.
CREATE TABLE password_resets (
    id          TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    token_hash  TEXT NOT NULL UNIQUE,
    token_enc   TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX password_resets_operator ON password_resets (operator_id);
