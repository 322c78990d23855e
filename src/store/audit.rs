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
    insert_many(conn, std::slice::from_ref(a)).await
}

/// Writes several audit rows in one statement.
pub async fn insert_many(conn: &mut AnyConnection, rows: &[NewAudit<'_>]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    use super::JsonCol::{Int, Text};
    let values: Vec<_> = rows
        .iter()
        .map(|a| {
            (
                AuditId::new().to_db(),
                a.at,
                a.actor_kind,
                &a.actor_id,
                a.actor_label,
                a.vendor_id.map(|v| v.to_db()),
                a.action,
                a.target_kind,
                &a.target_id,
                a.before.as_ref().map(|v| v.to_string()),
                a.after.as_ref().map(|v| v.to_string()),
                &a.ip,
            )
        })
        .collect();
    let cols = [
        ("id", Text),
        ("at", Int),
        ("actor_kind", Text),
        ("actor_id", Text),
        ("actor_label", Text),
        ("vendor_id", Text),
        ("action", Text),
        ("target_kind", Text),
        ("target_id", Text),
        ("before_json", Text),
        ("after_json", Text),
        ("ip", Text),
    ];
    let sql = super::json_insert(conn, "audit_log", 1, &cols);
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(super::json_param(&values)?)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct AuditRow {
    pub id: AuditId,
    pub at: i64,
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub actor_label: String,
    pub vendor_id: Option<VendorId>,
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
