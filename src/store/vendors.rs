//! Vendors (resellers).

use sqlx::AnyConnection;

use super::Result;
use crate::domain::{Millis, VendorId};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VendorRow {
    pub id: VendorId,
    pub name: String,
    pub alert_email: Option<String>,
    pub alert_language: String,
    pub alert_digest: i64,
    pub billing_email: Option<String>,
    pub is_default: i64,
    pub disabled_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLS: &str = "id, name, alert_email, alert_language, alert_digest, billing_email, is_default, disabled_at, created_at, updated_at";

pub async fn list(conn: &mut AnyConnection) -> Result<Vec<VendorRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLS} FROM vendors ORDER BY lower(name), id"
    )))
    .fetch_all(&mut *conn)
    .await?)
}

pub async fn get(conn: &mut AnyConnection, id: VendorId) -> Result<Option<VendorRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLS} FROM vendors WHERE id = $1"
    )))
    .bind(id.to_db())
    .fetch_optional(&mut *conn)
    .await?)
}

pub async fn get_default(conn: &mut AnyConnection) -> Result<Option<VendorRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLS} FROM vendors WHERE is_default = 1 ORDER BY id LIMIT 1"
    )))
    .fetch_optional(&mut *conn)
    .await?)
}

/// Renames a vendor (the default vendor carries the service's name).
pub async fn rename(
    conn: &mut AnyConnection,
    id: VendorId,
    name: &str,
    now: Millis,
) -> Result<bool> {
    let r = sqlx::query("UPDATE vendors SET name = $2, updated_at = $3 WHERE id = $1")
        .bind(id.to_db())
        .bind(name)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// A vendor's editable fields.
pub struct VendorFields<'a> {
    pub name: &'a str,
    pub alert_email: Option<&'a str>,
    pub alert_language: &'a str,
    pub alert_digest: bool,
    pub billing_email: Option<&'a str>,
}

pub async fn insert(
    conn: &mut AnyConnection,
    id: VendorId,
    f: &VendorFields<'_>,
    is_default: bool,
    now: Millis,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO vendors (id, name, alert_email, alert_language, alert_digest, is_default, created_at, updated_at, \
         billing_email) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)",
    )
    .bind(id.to_db())
    .bind(f.name)
    .bind(f.alert_email)
    .bind(f.alert_language)
    .bind(super::b(f.alert_digest))
    .bind(super::b(is_default))
    .bind(now)
    .bind(f.billing_email)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn update(
    conn: &mut AnyConnection,
    id: VendorId,
    f: &VendorFields<'_>,
    disabled_at: Option<Millis>,
    now: Millis,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE vendors SET name = $2, alert_email = $3, alert_language = $4, alert_digest = $5, \
         disabled_at = $6, updated_at = $7, billing_email = $8 WHERE id = $1",
    )
    .bind(id.to_db())
    .bind(f.name)
    .bind(f.alert_email)
    .bind(f.alert_language)
    .bind(super::b(f.alert_digest))
    .bind(disabled_at)
    .bind(now)
    .bind(f.billing_email)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}
