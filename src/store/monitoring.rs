//! The monitoring view: live installations with a health rank computed in
//! SQL (so filtering and worst-first paging happen in the database).

use sqlx::AnyConnection;

use super::Result;
use crate::domain::{CustomerId, Millis, VendorId};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MonitoringRow {
    pub id: String,
    pub customer_id: String,
    pub customer_name: String,
    pub vendor_id: String,
    pub username: String,
    pub hostname: String,
    pub software_type: String,
    pub client_version: String,
    pub os: String,
    pub last_seen_at: Option<i64>,
    pub last_backup_at: Option<i64>,
    pub last_backup_status: Option<String>,
    pub storage_used_bytes: i64,
    pub client_limit_gb: i64,
    pub health_rank: i64,
    pub sort_name: String,
}

/// The filters of the view.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub vendor: Option<VendorId>,
    pub customer: Option<CustomerId>,
    pub health_rank: Option<i64>,
    pub search: Option<String>,
}

/// Keyset cursor: the last row's (rank, lower(customer name), id).
#[derive(Debug, Clone)]
pub struct Cursor {
    pub rank: i64,
    pub name: String,
    pub id: String,
}

/// Worst first, then by customer and id. The health rule is the one of
/// `domain::health::Health::of`, in SQL: 4 failed, 3 overdue, 2 never,
/// 1 warning, 0 ok.
pub async fn list(
    conn: &mut AnyConnection,
    f: &Filter,
    now: Millis,
    overdue_ms: i64,
    after: Option<&Cursor>,
    limit: i64,
) -> Result<Vec<MonitoringRow>> {
    let pattern = f
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            format!(
                "%{}%",
                s.to_lowercase()
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            )
        });
    Ok(sqlx::query_as(
        "SELECT * FROM (SELECT n.id, c.id AS customer_id, c.name AS customer_name, c.vendor_id, n.username, \
           n.hostname, n.software_type, n.client_version, n.os, n.last_seen_at, n.last_backup_at, n.last_backup_status, \
           n.storage_used_bytes, l.client_limit_gb, lower(c.name) AS sort_name, \
           CASE WHEN n.last_backup_at IS NULL THEN 2 \
                WHEN n.last_backup_status = 'failed' THEN 4 \
                WHEN n.last_success_at IS NULL OR n.last_success_at <= $1 - $2 THEN 3 \
                WHEN n.last_backup_status = 'warning' \
                  OR (l.client_limit_gb > 0 AND n.storage_used_bytes > l.client_limit_gb * 1000000000) THEN 1 \
                ELSE 0 END AS health_rank \
         FROM installations n JOIN licenses l ON l.id = n.license_id JOIN customers c ON c.id = l.customer_id \
         WHERE n.deactivated_at IS NULL AND ($3 IS NULL OR c.vendor_id = $3) AND ($4 IS NULL OR c.id = $4) \
           AND ($5 IS NULL OR lower(n.username) LIKE $5 ESCAPE '\\' OR lower(n.hostname) LIKE $5 ESCAPE '\\' \
                OR lower(c.name) LIKE $5 ESCAPE '\\')) m \
         WHERE ($6 IS NULL OR m.health_rank = $6) \
           AND ($7 IS NULL OR m.health_rank < $7 OR (m.health_rank = $7 AND (m.sort_name > $8 OR (m.sort_name = $8 AND m.id > $9)))) \
         ORDER BY m.health_rank DESC, m.sort_name, m.id LIMIT $10",
    )
    .bind(now)
    .bind(overdue_ms)
    .bind(f.vendor.map(|v| v.to_db()))
    .bind(f.customer.map(|c| c.to_db()))
    .bind(pattern)
    .bind(f.health_rank)
    .bind(after.map(|a| a.rank))
    .bind(after.map(|a| a.name.clone()))
    .bind(after.map(|a| a.id.clone()))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// Per-customer totals for the summary: seats and space of its licenses,
/// storage of its live clients.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CustomerTotals {
    pub standard_seats: i64,
    pub standard_used: i64,
    pub server_seats: i64,
    pub server_used: i64,
    pub extra_space_gb: i64,
    pub storage_used_bytes: i64,
}

pub async fn customer_totals(
    conn: &mut AnyConnection,
    customer: CustomerId,
) -> Result<CustomerTotals> {
    Ok(sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(l.standard_seats), 0) AS BIGINT) AS standard_seats, \
         CAST(COALESCE(SUM(l.standard_used), 0) AS BIGINT) AS standard_used, \
         CAST(COALESCE(SUM(l.server_seats), 0) AS BIGINT) AS server_seats, \
         CAST(COALESCE(SUM(l.server_used), 0) AS BIGINT) AS server_used, \
         CAST(COALESCE(SUM(l.extra_space_gb), 0) AS BIGINT) AS extra_space_gb, \
         CAST((SELECT COALESCE(SUM(n.storage_used_bytes), 0) FROM installations n JOIN licenses l2 ON l2.id = n.license_id \
               WHERE l2.customer_id = $1 AND n.deactivated_at IS NULL) AS BIGINT) AS storage_used_bytes \
         FROM licenses l WHERE l.customer_id = $1 AND l.state <> 'expired'",
    )
    .bind(customer.to_db())
    .fetch_one(&mut *conn)
    .await?)
}
