//! Sign-in sessions, API tokens and one-time setup tokens. Only keyed hashes
//! of the tokens are stored.

use sqlx::AnyConnection;

use super::Result;
use crate::domain::{Millis, OperatorId, Role, TokenId, VendorId};

/// Who a session or API token belongs to, loaded in one query on every
/// authenticated request.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PrincipalRow {
    pub operator_id: OperatorId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub vendor_id: Option<VendorId>,
    pub vendor_name: Option<String>,
    pub csrf_token: String,
    pub expires_at: i64,
}

/// The operator behind a live session, if the session exists, has not
/// expired, and neither the operator nor its vendor is disabled.
pub async fn find_session(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: Millis,
) -> Result<Option<PrincipalRow>> {
    Ok(sqlx::query_as(
        "SELECT o.id AS operator_id, o.email, o.name, o.role, o.vendor_id, v.name AS vendor_name, \
         s.csrf_token, s.expires_at \
         FROM sessions s JOIN operators o ON o.id = s.operator_id \
         LEFT JOIN vendors v ON v.id = o.vendor_id \
         WHERE s.token_hash = $1 AND s.expires_at > $2 AND o.disabled_at IS NULL \
         AND v.disabled_at IS NULL",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?)
}

pub async fn insert_session(
    conn: &mut AnyConnection,
    token_hash: &str,
    operator: OperatorId,
    csrf_token: &str,
    now: Millis,
    expires_at: Millis,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO sessions (token_hash, operator_id, csrf_token, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash)
    .bind(operator.to_db())
    .bind(csrf_token)
    .bind(now)
    .bind(expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn delete_session(conn: &mut AnyConnection, token_hash: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Ends every session and revokes every API token of an operator.
pub async fn revoke_all_for_operator(
    conn: &mut AnyConnection,
    operator: OperatorId,
    now: Millis,
) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE operator_id = $1")
        .bind(operator.to_db())
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE api_tokens SET revoked_at = $2 WHERE operator_id = $1 AND revoked_at IS NULL",
    )
    .bind(operator.to_db())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Ends every session and token of a vendor's operators.
pub async fn revoke_all_for_vendor(
    conn: &mut AnyConnection,
    vendor: VendorId,
    now: Millis,
) -> Result<()> {
    sqlx::query(
        "DELETE FROM sessions WHERE operator_id IN (SELECT id FROM operators WHERE vendor_id = $1)",
    )
    .bind(vendor.to_db())
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE api_tokens SET revoked_at = $2 WHERE revoked_at IS NULL AND operator_id IN \
         (SELECT id FROM operators WHERE vendor_id = $1)",
    )
    .bind(vendor.to_db())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn delete_expired(conn: &mut AnyConnection, now: Millis) -> Result<u64> {
    let r = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected())
}

// --- API tokens ---

pub async fn insert_api_token(
    conn: &mut AnyConnection,
    id: TokenId,
    token_hash: &str,
    operator: OperatorId,
    now: Millis,
    expires_at: Millis,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO api_tokens (id, token_hash, operator_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id.to_db())
    .bind(token_hash)
    .bind(operator.to_db())
    .bind(now)
    .bind(expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The operator behind a live API token. `csrf_token` is empty (bearer
/// tokens are not sent by browsers on their own, so CSRF does not apply).
pub async fn find_api_token(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: Millis,
) -> Result<Option<PrincipalRow>> {
    Ok(sqlx::query_as(
        "SELECT o.id AS operator_id, o.email, o.name, o.role, o.vendor_id, v.name AS vendor_name, \
         '' AS csrf_token, t.expires_at \
         FROM api_tokens t JOIN operators o ON o.id = t.operator_id \
         LEFT JOIN vendors v ON v.id = o.vendor_id \
         WHERE t.token_hash = $1 AND t.expires_at > $2 AND t.revoked_at IS NULL \
         AND o.disabled_at IS NULL AND v.disabled_at IS NULL",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?)
}

pub async fn revoke_api_token(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: Millis,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE api_tokens SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL",
    )
    .bind(token_hash)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() > 0)
}

// --- one-time setup tokens ---

pub async fn insert_setup_token(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: Millis,
    expires_at: Millis,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO setup_tokens (token_hash, created_at, expires_at) VALUES ($1, $2, $3)",
    )
    .bind(token_hash)
    .bind(now)
    .bind(expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// True if the token exists, is unused and not expired.
pub async fn setup_token_valid(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: Millis,
) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM setup_tokens WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    Ok(n > 0)
}

/// Marks a setup token used; false if it was not valid (so two racing
/// requests cannot both use it).
pub async fn use_setup_token(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: Millis,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE setup_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}
