//! Passkeys (WebAuthn credentials) and the server-side state of their
//! ceremonies (migration 0013). The ceremony state is webauthn-rs's, as
//! JSON; nothing here is a secret (public keys, counters, challenges), so
//! nothing is encrypted.

use sqlx::AnyConnection;

use super::Result;
use crate::domain::{Millis, OperatorId};

/// A registered passkey.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PasskeyRow {
    pub id: String,
    pub operator_id: OperatorId,
    pub name: String,
    pub credential_id: String,
    /// webauthn-rs's `Passkey`, as JSON.
    pub passkey: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

const COLUMNS: &str = "id, operator_id, name, credential_id, passkey, created_at, last_used_at";

pub struct NewPasskey<'a> {
    pub id: &'a str,
    pub operator: OperatorId,
    pub name: &'a str,
    pub credential_id: &'a str,
    pub passkey: &'a str,
}

/// Stores a new passkey; a credential already registered (to anyone) is a
/// unique violation.
pub async fn insert(conn: &mut AnyConnection, p: &NewPasskey<'_>, now: Millis) -> Result<()> {
    sqlx::query(
        "INSERT INTO passkeys (id, operator_id, name, credential_id, passkey, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(p.id)
    .bind(p.operator.to_db())
    .bind(p.name)
    .bind(p.credential_id)
    .bind(p.passkey)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// An operator's passkeys, oldest first.
pub async fn list(conn: &mut AnyConnection, op: OperatorId) -> Result<Vec<PasskeyRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM passkeys WHERE operator_id = $1 ORDER BY created_at, id"
    )))
    .bind(op.to_db())
    .fetch_all(&mut *conn)
    .await?)
}

/// How many passkeys an operator has.
pub async fn count(conn: &mut AnyConnection, op: OperatorId) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM passkeys WHERE operator_id = $1")
            .bind(op.to_db())
            .fetch_one(&mut *conn)
            .await?,
    )
}

/// The passkey with this credential id, whoever's it is.
pub async fn by_credential(
    conn: &mut AnyConnection,
    credential_id: &str,
) -> Result<Option<PasskeyRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM passkeys WHERE credential_id = $1"
    )))
    .bind(credential_id)
    .fetch_optional(&mut *conn)
    .await?)
}

/// Notes a use: the updated credential (its counter) and when. Only while
/// the passkey still exists (a removed one is not brought back).
pub async fn used(conn: &mut AnyConnection, id: &str, passkey: &str, now: Millis) -> Result<bool> {
    let r = sqlx::query("UPDATE passkeys SET passkey = $2, last_used_at = $3 WHERE id = $1")
        .bind(id)
        .bind(passkey)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Removes one of an operator's passkeys; the name it had, if it existed.
pub async fn delete(conn: &mut AnyConnection, op: OperatorId, id: &str) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar(
            "DELETE FROM passkeys WHERE id = $1 AND operator_id = $2 RETURNING name",
        )
        .bind(id)
        .bind(op.to_db())
        .fetch_optional(&mut *conn)
        .await?,
    )
}

pub struct NewChallenge<'a> {
    pub id: &'a str,
    pub purpose: &'a str,
    pub owner_hash: &'a str,
    pub operator: Option<OperatorId>,
    pub state: &'a str,
    pub expires_at: Millis,
}

/// Stores a ceremony's state (and drops expired ones on the way).
pub async fn insert_challenge(
    conn: &mut AnyConnection,
    c: &NewChallenge<'_>,
    now: Millis,
) -> Result<()> {
    sqlx::query("DELETE FROM webauthn_challenges WHERE expires_at < $1")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO webauthn_challenges \
         (id, purpose, owner_hash, operator_id, state, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(c.id)
    .bind(c.purpose)
    .bind(c.owner_hash)
    .bind(c.operator.map(|o| o.to_db()))
    .bind(c.state)
    .bind(now)
    .bind(c.expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A taken challenge: whose it is and the ceremony's state.
#[derive(Debug, sqlx::FromRow)]
pub struct TakenChallenge {
    pub operator_id: Option<String>,
    pub state: String,
}

/// Takes a challenge once: deleted whatever happens next, so the same
/// challenge cannot be answered twice (a second request finds nothing).
/// Only the owner's, of this purpose, and not expired.
pub async fn take_challenge(
    conn: &mut AnyConnection,
    id: &str,
    purpose: &str,
    owner_hash: &str,
    now: Millis,
) -> Result<Option<TakenChallenge>> {
    Ok(sqlx::query_as(
        "DELETE FROM webauthn_challenges \
         WHERE id = $1 AND purpose = $2 AND owner_hash = $3 AND expires_at >= $4 \
         RETURNING operator_id, state",
    )
    .bind(id)
    .bind(purpose)
    .bind(owner_hash)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?)
}
