-- Passkeys (WebAuthn, issue #13): an operator's registered credentials,
-- and the server-side state of a ceremony between its two requests.
-- Portable SQL (SQLite and PostgreSQL).
--   passkeys.credential_id  the credential's id (base64url), unique across
--                           operators: one authenticator key is one account's
--   passkeys.passkey        webauthn-rs's Passkey as JSON: the public key
--                           and signature counter (no secret)
CREATE TABLE passkeys (
    id            TEXT PRIMARY KEY,
    operator_id   TEXT NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    credential_id TEXT NOT NULL UNIQUE,
    passkey       TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT
);
CREATE INDEX passkeys_operator ON passkeys (operator_id);

-- A registration or sign-in challenge: kept here (not in a cookie or in
-- memory) so the second request may reach another instance; taken with
-- DELETE … RETURNING, so it is used once; lives five minutes.
--   purpose     'register', 'second_factor' or 'sign_in'
--   owner_hash  the keyed hash of the cookie that started it (the session,
--               the half signed-in session, or the pre-session token): a
--               challenge is refused from anyone else
--   operator_id whose ceremony it is (none for a sign-in with a passkey
--               alone: the authenticator names the account)
CREATE TABLE webauthn_challenges (
    id          TEXT PRIMARY KEY,
    purpose     TEXT NOT NULL,
    owner_hash  TEXT NOT NULL,
    operator_id TEXT REFERENCES operators (id) ON DELETE CASCADE,
    state       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX webauthn_challenges_expires ON webauthn_challenges (expires_at);
