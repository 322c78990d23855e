//! Operators: the people who sign in.

use sqlx::AnyConnection;

use super::Result;
use crate::domain::{Millis, OperatorId, Role, VendorId};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OperatorRow {
    pub id: OperatorId,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub role: Role,
    pub vendor_id: Option<VendorId>,
    pub vendor_name: Option<String>,
    pub vendor_disabled_at: Option<i64>,
    pub disabled_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

const SELECT: &str = "SELECT o.id, o.email, o.name, o.password_hash, o.role, o.vendor_id, \
     v.name AS vendor_name, v.disabled_at AS vendor_disabled_at, o.disabled_at, o.created_at, \
     o.updated_at FROM operators o LEFT JOIN vendors v ON v.id = o.vendor_id";

pub async fn count(conn: &mut AnyConnection) -> Result<i64> {
    super::scalar_i64(conn, "SELECT COUNT(*) FROM operators").await
}

/// Lists operators, all of them or one vendor's.
pub async fn list(conn: &mut AnyConnection, vendor: Option<VendorId>) -> Result<Vec<OperatorRow>> {
    let rows = match vendor {
        None => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{SELECT} ORDER BY lower(o.email)"
            )))
            .fetch_all(&mut *conn)
            .await?
        }
        Some(v) => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{SELECT} WHERE o.vendor_id = $1 ORDER BY lower(o.email)"
            )))
            .bind(v.to_db())
            .fetch_all(&mut *conn)
            .await?
        }
    };
    Ok(rows)
}

pub async fn get(conn: &mut AnyConnection, id: OperatorId) -> Result<Option<OperatorRow>> {
    Ok(
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE o.id = $1")))
            .bind(id.to_db())
            .fetch_optional(&mut *conn)
            .await?,
    )
}

pub async fn find_by_email(
    conn: &mut AnyConnection,
    email_key: &str,
) -> Result<Option<OperatorRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE lower(o.email) = $1"
    )))
    .bind(email_key)
    .fetch_optional(&mut *conn)
    .await?)
}

pub struct NewOperatorRow<'a> {
    pub id: OperatorId,
    pub email: &'a str,
    pub name: &'a str,
    pub password_hash: &'a str,
    pub role: Role,
    pub vendor_id: Option<VendorId>,
}

pub async fn insert(conn: &mut AnyConnection, o: &NewOperatorRow<'_>, now: Millis) -> Result<()> {
    sqlx::query(
        "INSERT INTO operators (id, email, name, password_hash, role, vendor_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
    )
    .bind(o.id.to_db())
    .bind(o.email)
    .bind(o.name)
    .bind(o.password_hash)
    .bind(o.role.as_str())
    .bind(o.vendor_id.map(|v| v.to_db()))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Updates the editable fields; `password_hash` only when given.
#[allow(clippy::too_many_arguments)]
pub async fn update(
    conn: &mut AnyConnection,
    id: OperatorId,
    name: &str,
    role: Role,
    vendor_id: Option<VendorId>,
    disabled_at: Option<Millis>,
    password_hash: Option<&str>,
    now: Millis,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE operators SET name = $2, role = $3, vendor_id = $4, disabled_at = $5, \
         password_hash = COALESCE($6, password_hash), updated_at = $7 WHERE id = $1",
    )
    .bind(id.to_db())
    .bind(name)
    .bind(role.as_str())
    .bind(vendor_id.map(|v| v.to_db()))
    .bind(disabled_at)
    .bind(password_hash)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Number of enabled admins (so the last one cannot be disabled).
pub async fn count_enabled_admins(conn: &mut AnyConnection) -> Result<i64> {
    super::scalar_i64(
        conn,
        "SELECT COUNT(*) FROM operators WHERE role = 'admin' AND disabled_at IS NULL",
    )
    .await
}
