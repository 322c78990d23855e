//! Alerts: the conditions worth an e-mail, and one row per time a
//! condition started to hold for a subject (migration 0005).

use sqlx::AnyConnection;

use super::Result;
use crate::domain::{AlertId, CustomerId, Millis, VendorId};

/// A subject for which a condition holds now, with what its message needs.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Candidate {
    /// An installation's id or a license's, by the kind of alert.
    pub subject_id: String,
    pub vendor_id: VendorId,
    pub customer_id: CustomerId,
    pub customer_name: String,
    pub customer_language: String,
    pub contact_email: Option<String>,
    /// Installations: hostname and username; licenses: empty.
    pub hostname: String,
    pub username: String,
    /// overdue: last success (ms); failing: runs failed in a row;
    /// client_limit and storage: bytes stored; expiry: 0.
    pub number: i64,
    /// client_limit and storage: the limit in bytes; otherwise 0.
    pub number2: i64,
    /// failing: the last run's message; expiry: Valid to; otherwise empty.
    pub extra: String,
}

const INSTALLATION_COLS: &str = "n.id AS subject_id, n.vendor_id, n.customer_id, c.name AS customer_name, \
     c.language AS customer_language, c.contact_email, n.hostname, n.username";

/// Live clients that reported but have had no successful backup since
/// `cutoff` — the health word "overdue", and also clients whose last runs
/// failed and then went silent (their word is "failed").
pub async fn overdue(conn: &mut AnyConnection, cutoff: Millis) -> Result<Vec<Candidate>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {INSTALLATION_COLS}, CAST(COALESCE(n.last_success_at, 0) AS BIGINT) AS number, \
         CAST(0 AS BIGINT) AS number2, '' AS extra \
         FROM installations n JOIN customers c ON c.id = n.customer_id \
         WHERE n.deactivated_at IS NULL AND n.last_backup_at IS NOT NULL \
           AND (n.last_success_at IS NULL OR n.last_success_at <= $1)"
    )))
    .bind(cutoff)
    .fetch_all(&mut *conn)
    .await?)
}

/// Live clients whose last `runs` or more runs failed.
pub async fn failing(conn: &mut AnyConnection, runs: i64) -> Result<Vec<Candidate>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {INSTALLATION_COLS}, n.failed_in_row AS number, CAST(0 AS BIGINT) AS number2, \
         COALESCE((SELECT r.message FROM reports r WHERE r.installation_id = n.id \
                   ORDER BY r.finished_at DESC LIMIT 1), '') AS extra \
         FROM installations n JOIN customers c ON c.id = n.customer_id \
         WHERE n.deactivated_at IS NULL AND n.failed_in_row >= $1"
    )))
    .bind(runs)
    .fetch_all(&mut *conn)
    .await?)
}

/// Live clients storing more than their license's client limit.
pub async fn over_client_limit(conn: &mut AnyConnection) -> Result<Vec<Candidate>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {INSTALLATION_COLS}, n.storage_used_bytes AS number, \
         CAST(l.client_limit_gb * 1000000000 AS BIGINT) AS number2, '' AS extra \
         FROM installations n JOIN licenses l ON l.id = n.license_id JOIN customers c ON c.id = n.customer_id \
         WHERE n.deactivated_at IS NULL AND l.client_limit_gb > 0 \
           AND n.storage_used_bytes > l.client_limit_gb * 1000000000"
    )))
    .fetch_all(&mut *conn)
    .await?)
}

/// Purchased licenses whose live clients store at least `percent` % of the
/// license's Total space (seats × seat space + extra space).
pub async fn storage_at_least(
    conn: &mut AnyConnection,
    percent: i64,
    standard_seat_gb: i64,
    server_seat_gb: i64,
) -> Result<Vec<Candidate>> {
    Ok(sqlx::query_as(
        "SELECT l.id AS subject_id, c.vendor_id, c.id AS customer_id, c.name AS customer_name, \
         c.language AS customer_language, c.contact_email, '' AS hostname, '' AS username, \
         u.used AS number, \
         CAST((l.standard_seats * $2 + l.server_seats * $3 + l.extra_space_gb) * 1000000000 AS BIGINT) AS number2, \
         l.valid_to AS extra \
         FROM licenses l JOIN customers c ON c.id = l.customer_id \
         JOIN (SELECT license_id, CAST(SUM(storage_used_bytes) AS BIGINT) AS used FROM installations \
               WHERE deactivated_at IS NULL GROUP BY license_id) u ON u.license_id = l.id \
         WHERE l.type = 'purchased' AND l.state <> 'expired' \
           AND u.used / 1000000 * 100 >= $1 * (l.standard_seats * $2 + l.server_seats * $3 + l.extra_space_gb) * 1000",
    )
    .bind(percent)
    .bind(standard_seat_gb)
    .bind(server_seat_gb)
    .fetch_all(&mut *conn)
    .await?)
}

/// Active purchased licenses whose Valid to is from `from` to `to`
/// (dates, YYYY-MM-DD).
pub async fn expiring(conn: &mut AnyConnection, from: &str, to: &str) -> Result<Vec<Candidate>> {
    Ok(sqlx::query_as(
        "SELECT l.id AS subject_id, c.vendor_id, c.id AS customer_id, c.name AS customer_name, \
         c.language AS customer_language, c.contact_email, '' AS hostname, '' AS username, \
         CAST(0 AS BIGINT) AS number, CAST(0 AS BIGINT) AS number2, l.valid_to AS extra \
         FROM licenses l JOIN customers c ON c.id = l.customer_id \
         WHERE l.type = 'purchased' AND l.state = 'active' AND l.valid_to >= $1 AND l.valid_to <= $2",
    )
    .bind(from)
    .bind(to)
    .fetch_all(&mut *conn)
    .await?)
}

/// An open alert.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OpenAlert {
    pub id: AlertId,
    pub kind: String,
    pub subject_id: String,
    pub opened_at: i64,
    pub vendor_id: VendorId,
    pub customer_id: CustomerId,
}

pub async fn open_alerts(conn: &mut AnyConnection) -> Result<Vec<OpenAlert>> {
    Ok(sqlx::query_as(
        "SELECT id, kind, subject_id, opened_at, vendor_id, customer_id FROM alerts \
             WHERE closed_at IS NULL",
    )
    .fetch_all(&mut *conn)
    .await?)
}

pub struct NewAlert<'a> {
    pub id: AlertId,
    pub vendor_id: VendorId,
    pub customer_id: CustomerId,
    pub kind: &'a str,
    pub subject_id: &'a str,
    pub detail: &'a str,
    /// Set when it is e-mailed at once; empty for a digest to claim.
    pub notified_at: Option<Millis>,
}

/// Opens an alert; false when one is open for this kind and subject already
/// (another instance was first), so the caller sends nothing.
pub async fn open(conn: &mut AnyConnection, a: &NewAlert<'_>, now: Millis) -> Result<bool> {
    let r = sqlx::query(
        "INSERT INTO alerts (id, vendor_id, customer_id, kind, subject_id, detail, opened_at, notified_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
    )
    .bind(a.id.to_db())
    .bind(a.vendor_id.to_db())
    .bind(a.customer_id.to_db())
    .bind(a.kind)
    .bind(a.subject_id)
    .bind(a.detail)
    .bind(now)
    .bind(a.notified_at)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn close(conn: &mut AnyConnection, id: AlertId, now: Millis) -> Result<()> {
    sqlx::query("UPDATE alerts SET closed_at = $2 WHERE id = $1 AND closed_at IS NULL")
        .bind(id.to_db())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// How a vendor wants its alerts.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VendorAlerting {
    pub id: VendorId,
    pub name: String,
    pub alert_email: Option<String>,
    pub alert_language: String,
    pub alert_digest: i64,
    pub digest_sent_at: Option<i64>,
}

pub async fn vendors(conn: &mut AnyConnection) -> Result<Vec<VendorAlerting>> {
    Ok(sqlx::query_as(
        "SELECT id, name, alert_email, alert_language, alert_digest, digest_sent_at FROM vendors \
         WHERE disabled_at IS NULL",
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// Claims today's digest of a vendor: false if it went out already (this
/// instance or another).
pub async fn claim_digest(
    conn: &mut AnyConnection,
    vendor: VendorId,
    due: Millis,
    now: Millis,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE vendors SET digest_sent_at = $3 WHERE id = $1 AND alert_digest = 1 \
         AND (digest_sent_at IS NULL OR digest_sent_at < $2)",
    )
    .bind(vendor.to_db())
    .bind(due)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// An alert as a digest lists it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AlertRow {
    pub id: AlertId,
    pub kind: String,
    pub subject_id: String,
    pub customer_id: CustomerId,
    pub detail: String,
    pub opened_at: i64,
    pub closed_at: Option<i64>,
    pub contact_email: Option<String>,
    pub customer_language: String,
}

/// Claims a vendor's alerts that have not gone out yet for a digest (every
/// committed one, whoever opened it), oldest first. A row opened by a check
/// that commits later is left for the next digest, never lost or repeated.
pub async fn claim_for_digest(
    conn: &mut AnyConnection,
    vendor: VendorId,
    now: Millis,
) -> Result<Vec<AlertRow>> {
    sqlx::query("UPDATE alerts SET notified_at = $2 WHERE vendor_id = $1 AND notified_at IS NULL")
        .bind(vendor.to_db())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(sqlx::query_as(
        "SELECT a.id, a.kind, a.subject_id, a.customer_id, a.detail, a.opened_at, a.closed_at, \
         c.contact_email, c.language AS customer_language \
         FROM alerts a JOIN customers c ON c.id = a.customer_id \
         WHERE a.vendor_id = $1 AND a.notified_at = $2 ORDER BY a.opened_at, a.id",
    )
    .bind(vendor.to_db())
    .bind(now)
    .fetch_all(&mut *conn)
    .await?)
}

/// Open alerts of a vendor (all when `vendor` is None), newest first, for
/// the console and the API: the newest open alerts in index order, their
/// customer's vendor checked on the way (CROSS JOIN keeps that order on
/// SQLite; PostgreSQL plans it as the same inner join).
pub async fn list_open(
    conn: &mut AnyConnection,
    vendor: Option<VendorId>,
    limit: i64,
) -> Result<Vec<AlertRow>> {
    let sql = format!(
        "SELECT a.id, a.kind, a.subject_id, a.customer_id, a.detail, a.opened_at, a.closed_at, \
         c.contact_email, c.language AS customer_language \
         FROM alerts a CROSS JOIN customers c \
         WHERE c.id = a.customer_id AND a.closed_at IS NULL{} ORDER BY a.opened_at DESC, a.id DESC LIMIT $1",
        if vendor.is_some() {
            " AND c.vendor_id = $2"
        } else {
            ""
        }
    );
    let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(limit);
    if let Some(v) = vendor {
        q = q.bind(v.to_db());
    }
    Ok(q.fetch_all(&mut *conn).await?)
}
