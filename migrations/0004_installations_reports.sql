-- Activated backup clients. A live installation (deactivated_at IS NULL)
-- holds one seat of its software type on its license; the license's
-- *_used counters are changed in the same transaction.
CREATE TABLE installations (
    id                 TEXT PRIMARY KEY,
    license_id         TEXT NOT NULL REFERENCES licenses (id) ON DELETE CASCADE,
    invite_id          TEXT REFERENCES invites (id) ON DELETE SET NULL,
    username           TEXT NOT NULL,
    software_type      TEXT NOT NULL CHECK (software_type IN ('standard', 'server')),
    hostname           TEXT NOT NULL,
    os                 TEXT NOT NULL,
    client_version     TEXT NOT NULL,
    store_deleted_days BIGINT NOT NULL DEFAULT 30,
    token_hash         TEXT NOT NULL UNIQUE,
    -- the e-mail a trial was started with (trials have no invite)
    trial_email        TEXT,
    activated_at       BIGINT NOT NULL,
    deactivated_at     BIGINT,
    last_seen_at       BIGINT,
    last_backup_at     BIGINT,
    last_backup_status TEXT,
    last_success_at    BIGINT,
    failed_in_row      BIGINT NOT NULL DEFAULT 0,
    storage_used_bytes BIGINT NOT NULL DEFAULT 0,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX installations_license ON installations (license_id, deactivated_at);
CREATE INDEX installations_trial ON installations (trial_email) WHERE trial_email IS NOT NULL;

-- One backup run as a client reported it.
CREATE TABLE reports (
    id              TEXT PRIMARY KEY,
    installation_id TEXT NOT NULL REFERENCES installations (id) ON DELETE CASCADE,
    started_at      BIGINT NOT NULL,
    finished_at     BIGINT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('success', 'warning', 'failed')),
    bytes_total     BIGINT NOT NULL,
    bytes_uploaded  BIGINT NOT NULL,
    files_total     BIGINT NOT NULL,
    files_changed   BIGINT NOT NULL,
    message         TEXT NOT NULL DEFAULT '',
    received_at     BIGINT NOT NULL
);
CREATE INDEX reports_installation ON reports (installation_id, finished_at);
