-- Two-factor sign-in (TOTP, RFC 6238), recovery codes, and what an operator
-- needs to see and end their sessions and API tokens. Portable SQL.
--   operators.totp_secret     the confirmed TOTP secret, encrypted with the
--                             server key (keys.rs), NULL when not enrolled
--   operators.totp_pending    a secret handed out but not yet confirmed
--   operators.totp_last_step  the last time step accepted: a code is taken
--                             once (a guarded UPDATE, so no replay)
ALTER TABLE operators ADD COLUMN totp_secret TEXT;
ALTER TABLE operators ADD COLUMN totp_pending TEXT;
ALTER TABLE operators ADD COLUMN totp_last_step BIGINT;
ALTER TABLE operators ADD COLUMN totp_enabled_at BIGINT;

-- An admin can require two factors for one vendor's operators (the setting
-- for everyone lives in `settings`, key `security.require_two_factor`).
ALTER TABLE vendors ADD COLUMN require_two_factor BIGINT NOT NULL DEFAULT 0;

-- Ten single-use recovery codes per enrolled operator, stored only as
-- keyed hashes (keys.rs lookup_hash): they are high-entropy like tokens.
CREATE TABLE recovery_codes (
    operator_id TEXT NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    code_hash   TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    used_at     BIGINT,
    PRIMARY KEY (operator_id, code_hash)
);

-- Sessions get an id the owner can name (the token hash stays private),
-- a stage ('full', or 'totp'/'enrol' while the second step is pending:
-- such a session opens no page but that step), and where they come from.
ALTER TABLE sessions ADD COLUMN id TEXT;
UPDATE sessions SET id = substr(token_hash, 1, 32) WHERE id IS NULL;
CREATE UNIQUE INDEX sessions_id_key ON sessions (id);
ALTER TABLE sessions ADD COLUMN stage TEXT NOT NULL DEFAULT 'full';
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
ALTER TABLE sessions ADD COLUMN ip TEXT;
ALTER TABLE sessions ADD COLUMN last_used_at BIGINT;

ALTER TABLE api_tokens ADD COLUMN user_agent TEXT;
ALTER TABLE api_tokens ADD COLUMN ip TEXT;
ALTER TABLE api_tokens ADD COLUMN last_used_at BIGINT;
