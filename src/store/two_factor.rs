//! TOTP secrets (encrypted by the caller with the server key), the last
//! time step used, recovery codes (keyed hashes only), and who must have
//! two factors.

use sqlx::AnyConnection;

use super::Result;
use crate::domain::{Millis, OperatorId, VendorId};

/// The settings key that requires two factors of every operator ("1").
pub const REQUIRE_ALL_KEY: &str = "security.require_two_factor";

/// An operator's second-factor state.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TwoFactorRow {
    pub totp_secret: Option<String>,
    pub totp_pending: Option<String>,
    pub totp_last_step: Option<i64>,
    pub totp_enabled_at: Option<i64>,
    /// The operator's vendor requires two factors (0/1).
    pub vendor_requires: i64,
}

pub async fn get(conn: &mut AnyConnection, op: OperatorId) -> Result<Option<TwoFactorRow>> {
    Ok(sqlx::query_as(
        "SELECT o.totp_secret, o.totp_pending, o.totp_last_step, o.totp_enabled_at, \
         COALESCE(v.require_two_factor, 0) AS vendor_requires \
         FROM operators o LEFT JOIN vendors v ON v.id = o.vendor_id WHERE o.id = $1",
    )
    .bind(op.to_db())
    .fetch_optional(&mut *conn)
    .await?)
}

/// Whether the setting for everyone is on.
pub async fn required_for_all(conn: &mut AnyConnection) -> Result<bool> {
    Ok(super::settings::get(conn, REQUIRE_ALL_KEY)
        .await?
        .as_deref()
        == Some("1"))
}

pub async fn set_required_for_all(conn: &mut AnyConnection, on: bool) -> Result<()> {
    super::settings::set(conn, REQUIRE_ALL_KEY, if on { "1" } else { "0" }).await
}

/// Sets a vendor's requirement; false if there is no such vendor.
pub async fn set_required_for_vendor(
    conn: &mut AnyConnection,
    vendor: VendorId,
    on: bool,
    now: Millis,
) -> Result<bool> {
    let r =
        sqlx::query("UPDATE vendors SET require_two_factor = $2, updated_at = $3 WHERE id = $1")
            .bind(vendor.to_db())
            .bind(i64::from(on))
            .bind(now)
            .execute(&mut *conn)
            .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn vendor_required(conn: &mut AnyConnection, vendor: VendorId) -> Result<bool> {
    let v: Option<i64> = sqlx::query_scalar("SELECT require_two_factor FROM vendors WHERE id = $1")
        .bind(vendor.to_db())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(v == Some(1))
}

/// Stores a new, unconfirmed secret (replacing an earlier unconfirmed one).
pub async fn set_pending(conn: &mut AnyConnection, op: OperatorId, encrypted: &str) -> Result<()> {
    sqlx::query("UPDATE operators SET totp_pending = $2 WHERE id = $1")
        .bind(op.to_db())
        .bind(encrypted)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Makes the pending secret the active one, if it is still the one read
/// (`encrypted`) and none is active; answers whether it did.
pub async fn confirm(
    conn: &mut AnyConnection,
    op: OperatorId,
    encrypted: &str,
    step: i64,
    now: Millis,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE operators SET totp_secret = totp_pending, totp_pending = NULL, \
         totp_last_step = $3, totp_enabled_at = $4 \
         WHERE id = $1 AND totp_pending = $2 AND totp_secret IS NULL",
    )
    .bind(op.to_db())
    .bind(encrypted)
    .bind(step)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Takes a time step: true only if it is later than every step taken
/// before. One guarded UPDATE, so two requests with the same code cannot
/// both pass.
pub async fn take_step(conn: &mut AnyConnection, op: OperatorId, step: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE operators SET totp_last_step = $2 WHERE id = $1 AND totp_secret IS NOT NULL \
         AND (totp_last_step IS NULL OR totp_last_step < $2)",
    )
    .bind(op.to_db())
    .bind(step)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Removes the second factor and its recovery codes.
pub async fn disable(conn: &mut AnyConnection, op: OperatorId) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE operators SET totp_secret = NULL, totp_pending = NULL, totp_last_step = NULL, \
         totp_enabled_at = NULL WHERE id = $1 AND totp_secret IS NOT NULL",
    )
    .bind(op.to_db())
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM recovery_codes WHERE operator_id = $1")
        .bind(op.to_db())
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Replaces an operator's recovery codes with these hashes.
pub async fn replace_recovery_codes(
    conn: &mut AnyConnection,
    op: OperatorId,
    hashes: &[String],
    now: Millis,
) -> Result<()> {
    sqlx::query("DELETE FROM recovery_codes WHERE operator_id = $1")
        .bind(op.to_db())
        .execute(&mut *conn)
        .await?;
    // Ten rows once per enrolment: a statement each is plenty.
    for h in hashes {
        sqlx::query(
            "INSERT INTO recovery_codes (operator_id, code_hash, created_at) VALUES ($1, $2, $3)",
        )
        .bind(op.to_db())
        .bind(h)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Uses a recovery code: true once for each code.
pub async fn use_recovery_code(
    conn: &mut AnyConnection,
    op: OperatorId,
    hash: &str,
    now: Millis,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE recovery_codes SET used_at = $3 \
         WHERE operator_id = $1 AND code_hash = $2 AND used_at IS NULL",
    )
    .bind(op.to_db())
    .bind(hash)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn recovery_codes_left(conn: &mut AnyConnection, op: OperatorId) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM recovery_codes WHERE operator_id = $1 AND used_at IS NULL",
    )
    .bind(op.to_db())
    .fetch_one(&mut *conn)
    .await?)
}
