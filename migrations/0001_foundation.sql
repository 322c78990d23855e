-- Portable SQL (SQLite and PostgreSQL): ids are UUID text, times BIGINT
-- milliseconds since the epoch, booleans BIGINT 0/1.

CREATE TABLE vendors (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    alert_email TEXT,
    is_default  BIGINT NOT NULL DEFAULT 0,
    disabled_at BIGINT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX vendors_name_key ON vendors (lower(name));

CREATE TABLE operators (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    name          TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    vendor_id     TEXT REFERENCES vendors (id),
    disabled_at   BIGINT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    CHECK (role = 'admin' OR vendor_id IS NOT NULL)
);
CREATE UNIQUE INDEX operators_email_key ON operators (lower(email));

CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    csrf_token  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX sessions_operator ON sessions (operator_id);

CREATE TABLE api_tokens (
    id          TEXT PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    operator_id TEXT NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX api_tokens_operator ON api_tokens (operator_id);

CREATE TABLE setup_tokens (
    token_hash TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);

-- Failure counters for rate limits (sign-in, later activation), shared by
-- every instance on the same database.
CREATE TABLE rate_limits (
    key          TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    failures     BIGINT NOT NULL
);

CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor_kind  TEXT NOT NULL,
    actor_id    TEXT,
    actor_label TEXT NOT NULL,
    vendor_id   TEXT,
    action      TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target_id   TEXT,
    before_json TEXT,
    after_json  TEXT,
    ip          TEXT
);
CREATE INDEX audit_log_vendor ON audit_log (vendor_id, id);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
