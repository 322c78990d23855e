//! Daily usage samples (`usage_daily`) and the month's sums over them.

use sqlx::AnyConnection;

use super::Result;
use crate::domain::license::LicenseType;
use crate::domain::{CustomerId, Millis, VendorId};

/// What one sample writes.
pub struct Sample<'a> {
    /// The day, `YYYY-MM-DD` (UTC).
    pub day: &'a str,
    /// The moment the figures stand for: now for today, the end of the day
    /// for a day filled later. Seats used are the installations live at
    /// that moment (activation and deactivation times are kept, so a missed
    /// day's seats are exact); the rest is the license as it is now.
    pub as_of: Millis,
    pub standard_gb: i64,
    pub server_gb: i64,
    pub now: Millis,
    /// Replace a row already there (today's refresh), or keep it (filling
    /// missed days never overwrites a day sampled at the time).
    pub replace: bool,
}

/// Writes one row per license that existed at `as_of`; returns the rows
/// written. Idempotent: the primary key (license, day) makes a second
/// instance's sample of the same day an update of the same row.
pub async fn sample_day(conn: &mut AnyConnection, s: &Sample<'_>) -> Result<u64> {
    let used = |kind: &str| {
        format!(
            "(SELECT COUNT(*) FROM installations i WHERE i.license_id = l.id \
             AND i.software_type = '{kind}' AND i.activated_at < $2 \
             AND (i.deactivated_at IS NULL OR i.deactivated_at >= $2))"
        )
    };
    let on_conflict = if s.replace {
        "DO UPDATE SET customer_id = excluded.customer_id, vendor_id = excluded.vendor_id, \
         customer_name = excluded.customer_name, license_type = excluded.license_type, \
         license_state = excluded.license_state, standard_seats = excluded.standard_seats, \
         standard_used = excluded.standard_used, server_seats = excluded.server_seats, \
         server_used = excluded.server_used, extra_space_gb = excluded.extra_space_gb, \
         total_space_gb = excluded.total_space_gb, storage_used_bytes = excluded.storage_used_bytes, \
         sampled_at = excluded.sampled_at"
    } else {
        "DO NOTHING"
    };
    let sql = format!(
        "INSERT INTO usage_daily (license_id, day, customer_id, vendor_id, customer_name, license_type, \
           license_state, standard_seats, standard_used, server_seats, server_used, extra_space_gb, \
           total_space_gb, storage_used_bytes, sampled_at) \
         SELECT l.id, $1, c.id, c.vendor_id, c.name, l.type, \
           CASE WHEN l.valid_to < $1 THEN 'expired' ELSE l.state END, \
           l.standard_seats, {std_used}, l.server_seats, {srv_used}, l.extra_space_gb, \
           l.standard_seats * $3 + l.server_seats * $4 + l.extra_space_gb, \
           CAST(COALESCE((SELECT SUM(i.storage_used_bytes) FROM installations i \
             WHERE i.license_id = l.id AND i.activated_at < $2), 0) AS BIGINT), \
           $5 \
         FROM licenses l JOIN customers c ON c.id = l.customer_id \
         WHERE l.created_at < $2 \
         ON CONFLICT (license_id, day) {on_conflict}",
        std_used = used("standard"),
        srv_used = used("server"),
    );
    let r = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(s.day)
        .bind(s.as_of)
        .bind(s.standard_gb)
        .bind(s.server_gb)
        .bind(s.now)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected())
}

/// The latest day sampled, if any.
pub async fn last_day(conn: &mut AnyConnection) -> Result<Option<String>> {
    Ok(sqlx::query_scalar("SELECT MAX(day) FROM usage_daily")
        .fetch_one(&mut *conn)
        .await?)
}

/// A group's figures over a range of days: per quantity the peak and the
/// sum of the daily totals (the licenses of the group added up per day).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Sums {
    pub standard_seats_peak: i64,
    pub standard_seats_sum: i64,
    pub standard_used_peak: i64,
    pub standard_used_sum: i64,
    pub server_seats_peak: i64,
    pub server_seats_sum: i64,
    pub server_used_peak: i64,
    pub server_used_sum: i64,
    pub total_space_gb_peak: i64,
    pub total_space_gb_sum: i64,
    pub storage_used_bytes_peak: i64,
    pub storage_used_bytes_sum: i64,
    pub days_active: i64,
    pub days_sampled: i64,
}

/// One customer's figures for one license type.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CustomerSums {
    pub vendor_id: VendorId,
    pub customer_id: CustomerId,
    pub customer_name: String,
    pub license_type: LicenseType,
    #[sqlx(flatten)]
    pub sums: Sums,
}

/// One vendor's figures for one month (`YYYY-MM`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VendorMonthSums {
    pub vendor_id: VendorId,
    pub month: String,
    #[sqlx(flatten)]
    pub sums: Sums,
}

const DAILY: &str = "SUM(standard_seats) AS ss, SUM(standard_used) AS su, SUM(server_seats) AS vs, \
    SUM(server_used) AS vu, SUM(total_space_gb) AS ts, SUM(storage_used_bytes) AS sb, \
    MAX(CASE WHEN license_state = 'active' THEN 1 ELSE 0 END) AS active";

const OVER_DAYS: &str = "CAST(MAX(d.ss) AS BIGINT) AS standard_seats_peak, CAST(SUM(d.ss) AS BIGINT) AS standard_seats_sum, \
    CAST(MAX(d.su) AS BIGINT) AS standard_used_peak, CAST(SUM(d.su) AS BIGINT) AS standard_used_sum, \
    CAST(MAX(d.vs) AS BIGINT) AS server_seats_peak, CAST(SUM(d.vs) AS BIGINT) AS server_seats_sum, \
    CAST(MAX(d.vu) AS BIGINT) AS server_used_peak, CAST(SUM(d.vu) AS BIGINT) AS server_used_sum, \
    CAST(MAX(d.ts) AS BIGINT) AS total_space_gb_peak, CAST(SUM(d.ts) AS BIGINT) AS total_space_gb_sum, \
    CAST(MAX(d.sb) AS BIGINT) AS storage_used_bytes_peak, CAST(SUM(d.sb) AS BIGINT) AS storage_used_bytes_sum, \
    CAST(SUM(d.active) AS BIGINT) AS days_active, CAST(COUNT(*) AS BIGINT) AS days_sampled";

fn vendor_clause(vendor: Option<VendorId>) -> &'static str {
    if vendor.is_some() {
        " AND vendor_id = $3"
    } else {
        ""
    }
}

/// Per customer and license type over the days `from..=to` (ISO dates),
/// one vendor or all; by vendor, then customer name.
pub async fn by_customer(
    conn: &mut AnyConnection,
    from: &str,
    to: &str,
    vendor: Option<VendorId>,
) -> Result<Vec<CustomerSums>> {
    let sql = format!(
        "SELECT d.vendor_id, d.customer_id, MAX(d.customer_name) AS customer_name, d.license_type, {OVER_DAYS} \
         FROM (SELECT vendor_id, customer_id, license_type, day, MAX(customer_name) AS customer_name, {DAILY} \
               FROM usage_daily WHERE day >= $1 AND day <= $2{v} \
               GROUP BY vendor_id, customer_id, license_type, day) d \
         GROUP BY d.vendor_id, d.customer_id, d.license_type \
         ORDER BY d.vendor_id, lower(MAX(d.customer_name)), d.customer_id, d.license_type",
        v = vendor_clause(vendor)
    );
    let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(from).bind(to);
    if let Some(v) = vendor {
        q = q.bind(v.to_db());
    }
    Ok(q.fetch_all(&mut *conn).await?)
}

/// Per vendor and month over the days `from..=to`: a vendor's daily
/// totals (all its licenses added up) folded into months.
pub async fn by_vendor_month(
    conn: &mut AnyConnection,
    from: &str,
    to: &str,
    vendor: Option<VendorId>,
) -> Result<Vec<VendorMonthSums>> {
    let sql = format!(
        "SELECT d.vendor_id, substr(d.day, 1, 7) AS month, {OVER_DAYS} \
         FROM (SELECT vendor_id, day, {DAILY} \
               FROM usage_daily WHERE day >= $1 AND day <= $2{v} \
               GROUP BY vendor_id, day) d \
         GROUP BY d.vendor_id, substr(d.day, 1, 7) \
         ORDER BY d.vendor_id, month",
        v = vendor_clause(vendor)
    );
    let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(from).bind(to);
    if let Some(v) = vendor {
        q = q.bind(v.to_db());
    }
    Ok(q.fetch_all(&mut *conn).await?)
}

/// Whether a vendor's usage e-mail for `month` was queued already (a
/// cheap look before the report is computed; [`claim_mail`] decides).
pub async fn mail_claimed(conn: &mut AnyConnection, vendor: VendorId, month: &str) -> Result<bool> {
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM usage_mails WHERE vendor_id = $1 AND month = $2")
            .bind(vendor.to_db())
            .bind(month)
            .fetch_one(&mut *conn)
            .await?;
    Ok(n > 0)
}

/// Claims a vendor's usage e-mail for `month`: true for the one caller
/// whose row went in (it queues the message in the same transaction),
/// false for everyone after (the primary key).
pub async fn claim_mail(
    conn: &mut AnyConnection,
    vendor: VendorId,
    month: &str,
    message: crate::domain::MessageId,
    recipient: &str,
    now: Millis,
) -> Result<bool> {
    let r = sqlx::query(
        "INSERT INTO usage_mails (vendor_id, month, message_id, recipient, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (vendor_id, month) DO NOTHING",
    )
    .bind(vendor.to_db())
    .bind(month)
    .bind(message.to_db())
    .bind(recipient)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}
