//! The audit log: append-only, written in the same transaction as the change.

use sqlx::AnyConnection;

use super::Result;
use crate::domain::{AuditId, Millis, VendorId};

/// One audit row as written.
#[derive(Debug, Clone)]
pub struct NewAudit<'a> {
    pub at: Millis,
    pub actor_kind: &'a str,
    pub actor_id: Option<String>,
    pub actor_label: &'a str,
    pub vendor_id: Option<VendorId>,
    pub action: &'a str,
    pub target_kind: &'a str,
    pub target_id: Option<String>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub ip: Option<String>,
}

pub async fn insert(conn: &mut AnyConnection, a: &NewAudit<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (id, at, actor_kind, actor_id, actor_label, vendor_id, action, \
         target_kind, target_id, before_json, after_json, ip) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(AuditId::new().to_db())
    .bind(a.at)
    .bind(a.actor_kind)
    .bind(a.actor_id.clone())
    .bind(a.actor_label)
    .bind(a.vendor_id.map(|v| v.to_db()))
    .bind(a.action)
    .bind(a.target_kind)
    .bind(a.target_id.clone())
    .bind(a.before.as_ref().map(|v| v.to_string()))
    .bind(a.after.as_ref().map(|v| v.to_string()))
    .bind(a.ip.clone())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct AuditRow {
    pub id: String,
    pub at: i64,
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub actor_label: String,
    pub vendor_id: Option<String>,
    pub action: String,
    pub target_kind: String,
    pub target_id: Option<String>,
    pub before_json: Option<String>,
    pub after_json: Option<String>,
    pub ip: Option<String>,
}

/// Newest first, keyset-paged by id (`before` = the last id of the previous
/// page). `vendor` limits to one vendor's rows; `action_prefix` filters.
pub async fn list(
    conn: &mut AnyConnection,
    vendor: Option<VendorId>,
    action_prefix: Option<&str>,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<AuditRow>> {
    Ok(sqlx::query_as(
        "SELECT id, at, actor_kind, actor_id, actor_label, vendor_id, action, target_kind, \
         target_id, before_json, after_json, ip FROM audit_log \
         WHERE ($1 IS NULL OR vendor_id = $1) AND ($2 IS NULL OR action LIKE $2) \
         AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4",
    )
    .bind(vendor.map(|v| v.to_db()))
    .bind(action_prefix.map(|p| format!("{p}%")))
    .bind(before)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}
