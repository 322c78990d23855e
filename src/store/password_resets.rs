//! Password reset links (migration 0011).

use sqlx::AnyConnection;

use super::Result;
use crate::domain::{Millis, OperatorId};

pub struct NewReset<'a> {
    pub id: &'a str,
    pub operator: OperatorId,
    pub token_hash: &'a str,
    pub token_enc: &'a str,
    pub expires_at: Millis,
}

pub async fn insert(conn: &mut AnyConnection, r: &NewReset<'_>, now: Millis) -> Result<()> {
    sqlx::query(
        "INSERT INTO password_resets (id, operator_id, token_hash, token_enc, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(r.id)
    .bind(r.operator.to_db())
    .bind(r.token_hash)
    .bind(r.token_enc)
    .bind(now)
    .bind(r.expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// What the mail worker needs to send a reset link: the encrypted token
/// and the address, while the link is unused and valid.
#[derive(Debug, sqlx::FromRow)]
pub struct ResetMail {
    pub token_enc: String,
    pub email: String,
    pub expires_at: i64,
}

pub async fn for_mail(
    conn: &mut AnyConnection,
    id: &str,
    now: Millis,
) -> Result<Option<ResetMail>> {
    Ok(sqlx::query_as(
        "SELECT r.token_enc, o.email, r.expires_at FROM password_resets r \
         JOIN operators o ON o.id = r.operator_id \
         WHERE r.id = $1 AND r.used_at IS NULL AND r.expires_at > $2",
    )
    .bind(id)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?)
}

/// The operator of a valid, unused link.
pub async fn find_valid(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: Millis,
) -> Result<Option<(String, OperatorId)>> {
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT id, operator_id FROM password_resets \
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.and_then(|(id, op)| op.parse().ok().map(|op| (id, op))))
}

/// Uses a link once: false when another request used it first. Every
/// other open link of the operator ends with it.
pub async fn use_link(
    conn: &mut AnyConnection,
    id: &str,
    operator: OperatorId,
    now: Millis,
) -> Result<bool> {
    let r =
        sqlx::query("UPDATE password_resets SET used_at = $2 WHERE id = $1 AND used_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(&mut *conn)
            .await?;
    sqlx::query(
        "UPDATE password_resets SET used_at = $2 WHERE operator_id = $1 AND used_at IS NULL",
    )
    .bind(operator.to_db())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Sets a new password hash.
pub async fn set_password(
    conn: &mut AnyConnection,
    operator: OperatorId,
    hash: &str,
    now: Millis,
) -> Result<()> {
    sqlx::query("UPDATE operators SET password_hash = $2, updated_at = $3 WHERE id = $1")
        .bind(operator.to_db())
        .bind(hash)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
