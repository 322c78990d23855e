//! The monitoring view: live installations with a health rank computed in
//! SQL (so filtering and worst-first paging happen in the database).

use sqlx::AnyConnection;

use super::Result;
use crate::domain::history::RunStatus;
use crate::domain::invite::SoftwareType;
use crate::domain::{CustomerId, InstallationId, Millis, VendorId};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MonitoringRow {
    pub id: InstallationId,
    pub customer_id: CustomerId,
    pub customer_name: String,
    pub vendor_id: VendorId,
    pub username: String,
    pub hostname: String,
    pub software_type: SoftwareType,
    pub client_version: String,
    pub os: String,
    pub last_seen_at: Option<i64>,
    pub last_backup_at: Option<i64>,
    pub last_backup_status: Option<RunStatus>,
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

/// Worst first, then by customer name and id. The health rule is the one of
/// `domain::health::Health::of`: 4 failed, 3 overdue, 2 never, 1 warning,
/// 0 ok. Each health is one bucket read in index order (see migration
/// 0005: `health_base` holds the part of the rule that does not move with
/// the clock), so a page costs a few index ranges whatever the number of
/// clients; buckets are read worst first until the page is full. A text
/// search cannot use an index, so it is one scan instead of five.
pub async fn list(
    conn: &mut AnyConnection,
    f: &Filter,
    now: Millis,
    overdue_ms: i64,
    after: Option<&Cursor>,
    limit: i64,
) -> Result<Vec<MonitoringRow>> {
    if search_pattern(f).is_some() {
        return search(conn, f, now - overdue_ms, after, limit).await;
    }
    let ranks: &[i64] = match f.health_rank {
        Some(4) => &[4],
        Some(3) => &[3],
        Some(2) => &[2],
        Some(1) => &[1],
        Some(0) => &[0],
        Some(_) => &[],
        None => &[4, 3, 2, 1, 0],
    };
    let mut out: Vec<MonitoringRow> = Vec::new();
    for &rank in ranks {
        let need = limit - out.len() as i64;
        if need <= 0 {
            break;
        }
        let cursor = match after {
            Some(a) if rank > a.rank => continue,
            Some(a) if rank == a.rank => Some(a),
            _ => None,
        };
        out.extend(bucket(conn, f, rank, now - overdue_ms, cursor, need).await?);
    }
    Ok(out)
}

enum Arg {
    Int(i64),
    Text(String),
}

/// The rows of one health, in (customer name, id) order.
async fn bucket(
    conn: &mut AnyConnection,
    f: &Filter,
    rank: i64,
    cutoff: Millis,
    after: Option<&Cursor>,
    limit: i64,
) -> Result<Vec<MonitoringRow>> {
    let mut args: Vec<Arg> = Vec::new();
    let mut arg = |a: Arg| {
        args.push(a);
        format!("${}", args.len())
    };
    // A stored health of 0 or 1 implies a successful run (see
    // store::installations::summary_set), so last_success_at is set.
    // The unary plus keeps the planner off the health indexes where another
    // is narrower: overdue clients are found by their last success, one
    // customer's by the customer index.
    let base = if f.customer.is_some() || rank == 3 {
        "+n.health_base"
    } else {
        "n.health_base"
    };
    let mut sql = format!(
        "SELECT * FROM installations n WHERE n.deactivated_at IS NULL AND {}",
        match rank {
            3 => format!(
                "{base} IN (0, 1) AND n.last_success_at <= {}",
                arg(Arg::Int(cutoff))
            ),
            0 | 1 => format!(
                "{base} = {rank} AND n.last_success_at > {}",
                arg(Arg::Int(cutoff))
            ),
            _ => format!("{base} = {rank}"),
        }
    );
    sql.push_str(&scope(f, &mut arg));
    if let Some(a) = after {
        let name = arg(Arg::Text(a.name.clone()));
        let id = arg(Arg::Text(a.id.clone()));
        sql.push_str(&format!(
            " AND (n.sort_name > {name} OR (n.sort_name = {name} AND n.id > {id}))"
        ));
    }
    sql.push_str(&format!(
        " ORDER BY n.sort_name, n.id LIMIT {}",
        arg(Arg::Int(limit))
    ));
    // The page's rows first, then their license and customer (not the
    // other way round: an overdue bucket has thousands of rows to sort).
    let sql = format!(
        "SELECT {COLUMNS}, CAST({rank} AS BIGINT) AS health_rank, n.sort_name FROM ({sql}) n \
         JOIN licenses l ON l.id = n.license_id JOIN customers c ON c.id = n.customer_id \
         ORDER BY n.sort_name, n.id"
    );
    fetch(conn, sql, args).await
}

const COLUMNS: &str = "n.id, n.customer_id, c.name AS customer_name, n.vendor_id, n.username, n.hostname, \
     n.software_type, n.client_version, n.os, n.last_seen_at, n.last_backup_at, n.last_backup_status, \
     n.storage_used_bytes, l.client_limit_gb";
const FROM: &str = "FROM installations n JOIN licenses l ON l.id = n.license_id JOIN customers c ON c.id = n.customer_id";

/// The vendor and customer conditions of a filter.
fn scope(f: &Filter, arg: &mut impl FnMut(Arg) -> String) -> String {
    let mut sql = String::new();
    if let Some(v) = f.vendor {
        sql.push_str(&format!(" AND n.vendor_id = {}", arg(Arg::Text(v.to_db()))));
    }
    if let Some(c) = f.customer {
        sql.push_str(&format!(
            " AND n.customer_id = {}",
            arg(Arg::Text(c.to_db()))
        ));
    }
    sql
}

fn search_pattern(f: &Filter) -> Option<String> {
    f.search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(like_pattern)
}

/// A text search over username, hostname and customer name: one scan with
/// the health rank computed per row, worst first.
async fn search(
    conn: &mut AnyConnection,
    f: &Filter,
    cutoff: Millis,
    after: Option<&Cursor>,
    limit: i64,
) -> Result<Vec<MonitoringRow>> {
    let mut args: Vec<Arg> = Vec::new();
    let mut arg = |a: Arg| {
        args.push(a);
        format!("${}", args.len())
    };
    let cutoff = arg(Arg::Int(cutoff));
    let p = arg(Arg::Text(search_pattern(f).unwrap_or_default()));
    let mut inner = format!(
        "SELECT {COLUMNS}, n.sort_name, CAST(CASE WHEN n.health_base IN (0, 1) AND n.last_success_at <= {cutoff} \
           THEN 3 ELSE n.health_base END AS BIGINT) AS health_rank {FROM} \
         WHERE n.deactivated_at IS NULL AND (lower(n.username) LIKE {p} ESCAPE '\\' \
           OR lower(n.hostname) LIKE {p} ESCAPE '\\' OR n.sort_name LIKE {p} ESCAPE '\\')"
    );
    inner.push_str(&scope(f, &mut arg));
    let mut sql = format!("SELECT * FROM ({inner}) m WHERE 1 = 1");
    if let Some(r) = f.health_rank {
        sql.push_str(&format!(" AND m.health_rank = {}", arg(Arg::Int(r))));
    }
    if let Some(a) = after {
        let (rank, name, id) = (
            arg(Arg::Int(a.rank)),
            arg(Arg::Text(a.name.clone())),
            arg(Arg::Text(a.id.clone())),
        );
        sql.push_str(&format!(
            " AND (m.health_rank < {rank} OR (m.health_rank = {rank} AND (m.sort_name > {name} \
               OR (m.sort_name = {name} AND m.id > {id}))))"
        ));
    }
    sql.push_str(&format!(
        " ORDER BY m.health_rank DESC, m.sort_name, m.id LIMIT {}",
        arg(Arg::Int(limit))
    ));
    fetch(conn, sql, args).await
}

async fn fetch(
    conn: &mut AnyConnection,
    sql: String,
    args: Vec<Arg>,
) -> Result<Vec<MonitoringRow>> {
    let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
    for a in args {
        q = match a {
            Arg::Int(i) => q.bind(i),
            Arg::Text(t) => q.bind(t),
        };
    }
    Ok(q.fetch_all(&mut *conn).await?)
}

/// `%text%` for LIKE, lower-case, its wildcards escaped.
fn like_pattern(s: &str) -> String {
    format!(
        "%{}%",
        s.to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    )
}

/// How many of a customer's live clients have each health: (rank, count).
pub async fn customer_health_counts(
    conn: &mut AnyConnection,
    customer: CustomerId,
    now: Millis,
    overdue_ms: i64,
) -> Result<Vec<(i64, i64)>> {
    Ok(sqlx::query_as(
        "SELECT CAST(CASE WHEN health_base IN (0, 1) AND last_success_at <= $2 THEN 3 ELSE health_base END AS BIGINT) AS r, \
         CAST(COUNT(*) AS BIGINT) FROM installations WHERE customer_id = $1 AND deactivated_at IS NULL GROUP BY 1",
    )
    .bind(customer.to_db())
    .bind(now - overdue_ms)
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

/// The whole view's summary line (all clients, or one vendor's): how many
/// live clients have each health, (rank, count).
pub async fn scope_health_counts(
    conn: &mut AnyConnection,
    vendor: Option<VendorId>,
    now: Millis,
    overdue_ms: i64,
) -> Result<Vec<(i64, i64)>> {
    let sql = format!(
        "SELECT CAST(CASE WHEN health_base IN (0, 1) AND last_success_at <= $1 THEN 3 ELSE health_base END AS BIGINT) AS r, \
         CAST(COUNT(*) AS BIGINT) FROM installations WHERE deactivated_at IS NULL{} GROUP BY 1",
        if vendor.is_some() {
            " AND vendor_id = $2"
        } else {
            ""
        }
    );
    let q = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(now - overdue_ms);
    let q = match vendor {
        Some(v) => q.bind(v.to_db()),
        None => q,
    };
    Ok(q.fetch_all(&mut *conn).await?)
}

/// Seats and extra space of the licenses in force, and storage of the live
/// clients, of all customers or one vendor's.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ScopeTotals {
    pub standard_seats: i64,
    pub server_seats: i64,
    pub extra_space_gb: i64,
    pub storage_used_bytes: i64,
}

pub async fn scope_totals(
    conn: &mut AnyConnection,
    vendor: Option<VendorId>,
) -> Result<ScopeTotals> {
    let (lic, inst) = if vendor.is_some() {
        (" AND c.vendor_id = $1", " AND n.vendor_id = $1")
    } else {
        ("", "")
    };
    let sql = format!(
        "SELECT CAST(COALESCE(SUM(l.standard_seats), 0) AS BIGINT) AS standard_seats, \
         CAST(COALESCE(SUM(l.server_seats), 0) AS BIGINT) AS server_seats, \
         CAST(COALESCE(SUM(l.extra_space_gb), 0) AS BIGINT) AS extra_space_gb, \
         CAST((SELECT COALESCE(SUM(n.storage_used_bytes), 0) FROM installations n \
               WHERE n.deactivated_at IS NULL{inst}) AS BIGINT) AS storage_used_bytes \
         FROM licenses l JOIN customers c ON c.id = l.customer_id WHERE l.state <> 'expired'{lic}"
    );
    let q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
    let q = match vendor {
        Some(v) => q.bind(v.to_db()),
        None => q,
    };
    Ok(q.fetch_one(&mut *conn).await?)
}
