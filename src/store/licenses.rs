//! Licenses: seats, space, validity.

use sqlx::AnyConnection;

use super::{IMPORT_CHUNK, Result};
use crate::domain::license::{Day, LicenseState, LicenseType};
use crate::domain::{CustomerId, LicenseId, Millis, VendorId};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LicenseRow {
    pub id: LicenseId,
    pub customer_id: CustomerId,
    pub customer_name: String,
    pub vendor_id: VendorId,
    pub r#type: LicenseType,
    pub state: LicenseState,
    pub standard_seats: i64,
    pub standard_used: i64,
    pub server_seats: i64,
    pub server_used: i64,
    pub extra_space_gb: i64,
    pub client_limit_gb: i64,
    pub created: Day,
    pub valid_to: Day,
    pub comments: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What an activation needs of a license, read beside its invite (the
/// columns are named apart from the invite's: see [`TERMS_COLUMNS`]).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LicenseTerms {
    #[sqlx(rename = "l_id")]
    pub id: LicenseId,
    #[sqlx(rename = "l_type")]
    pub r#type: LicenseType,
    #[sqlx(rename = "l_state")]
    pub state: LicenseState,
    #[sqlx(rename = "l_valid_to")]
    pub valid_to: Day,
    #[sqlx(rename = "l_standard_seats")]
    pub standard_seats: i64,
    #[sqlx(rename = "l_standard_used")]
    pub standard_used: i64,
    #[sqlx(rename = "l_server_seats")]
    pub server_seats: i64,
    #[sqlx(rename = "l_server_used")]
    pub server_used: i64,
    #[sqlx(rename = "l_extra_space_gb")]
    pub extra_space_gb: i64,
    #[sqlx(rename = "l_client_limit_gb")]
    pub client_limit_gb: i64,
}

/// [`LicenseTerms`]' columns of a license `l`.
pub(crate) const TERMS_COLUMNS: &str = "l.id AS l_id, l.type AS l_type, l.state AS l_state, \
     l.valid_to AS l_valid_to, l.standard_seats AS l_standard_seats, l.standard_used AS l_standard_used, \
     l.server_seats AS l_server_seats, l.server_used AS l_server_used, \
     l.extra_space_gb AS l_extra_space_gb, l.client_limit_gb AS l_client_limit_gb";

const SELECT: &str = "SELECT l.id, l.customer_id, c.name AS customer_name, c.vendor_id, l.type, l.state, \
     l.standard_seats, l.standard_used, l.server_seats, l.server_used, l.extra_space_gb, l.client_limit_gb, \
     l.created, l.valid_to, l.comments, l.created_at, l.updated_at \
     FROM licenses l JOIN customers c ON c.id = l.customer_id";

/// The editable fields of a license.
pub struct LicenseFields<'a> {
    pub r#type: LicenseType,
    pub state: LicenseState,
    pub standard_seats: i64,
    pub server_seats: i64,
    pub extra_space_gb: i64,
    pub client_limit_gb: i64,
    /// ISO dates (`domain::license::format_date`).
    pub created: String,
    pub valid_to: String,
    pub comments: &'a str,
}

pub async fn get(conn: &mut AnyConnection, id: LicenseId) -> Result<Option<LicenseRow>> {
    Ok(
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE l.id = $1")))
            .bind(id.to_db())
            .fetch_optional(&mut *conn)
            .await?,
    )
}

pub async fn list_for_customer(
    conn: &mut AnyConnection,
    customer: CustomerId,
) -> Result<Vec<LicenseRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE l.customer_id = $1 ORDER BY l.id"
    )))
    .bind(customer.to_db())
    .fetch_all(&mut *conn)
    .await?)
}

/// One page of licenses for an export, in id order (UUIDv7: creation
/// order): one vendor's or all, after the id `after` (keyset pagination).
pub async fn export_page(
    conn: &mut AnyConnection,
    vendor: Option<VendorId>,
    after: Option<LicenseId>,
    limit: i64,
) -> Result<Vec<LicenseRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE ($1 IS NULL OR c.vendor_id = $1) AND ($2 IS NULL OR l.id > $2) ORDER BY l.id LIMIT $3"
    )))
    .bind(vendor.map(|v| v.to_db()))
    .bind(after.map(|a| a.to_db()))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

pub async fn insert(
    conn: &mut AnyConnection,
    id: LicenseId,
    customer: CustomerId,
    f: &LicenseFields<'_>,
    now: Millis,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO licenses (id, customer_id, type, state, standard_seats, server_seats, extra_space_gb, \
         client_limit_gb, created, valid_to, comments, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
    )
    .bind(id.to_db())
    .bind(customer.to_db())
    .bind(f.r#type.as_str())
    .bind(f.state.as_str())
    .bind(f.standard_seats)
    .bind(f.server_seats)
    .bind(f.extra_space_gb)
    .bind(f.client_limit_gb)
    .bind(f.created.as_str())
    .bind(f.valid_to.as_str())
    .bind(f.comments)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Saves a license unless the new seat counts are below the seats in use
/// at this moment (checked in the statement itself, so a concurrent
/// activation cannot slip between check and write). False: refused.
pub async fn update_if_seats_cover_use(
    conn: &mut AnyConnection,
    id: LicenseId,
    f: &LicenseFields<'_>,
    now: Millis,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE licenses SET type = $2, state = $3, standard_seats = $4, server_seats = $5, extra_space_gb = $6, \
         client_limit_gb = $7, created = $8, valid_to = $9, comments = $10, updated_at = $11 \
         WHERE id = $1 AND standard_used <= $4 AND server_used <= $5",
    )
    .bind(id.to_db())
    .bind(f.r#type.as_str())
    .bind(f.state.as_str())
    .bind(f.standard_seats)
    .bind(f.server_seats)
    .bind(f.extra_space_gb)
    .bind(f.client_limit_gb)
    .bind(f.created.as_str())
    .bind(f.valid_to.as_str())
    .bind(f.comments)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if r.rows_affected() != 1 {
        return Ok(false);
    }
    // The client limit may have moved: its clients' stored health follows.
    super::installations::refresh_health_for_license(conn, id).await?;
    Ok(true)
}

/// Inserts many licenses, a few hundred per statement (an import).
pub async fn insert_many(
    conn: &mut AnyConnection,
    rows: &[(LicenseId, CustomerId, LicenseFields<'_>)],
    now: Millis,
) -> Result<()> {
    const COLS: usize = 12;
    for chunk in rows.chunks(IMPORT_CHUNK) {
        let values = (0..chunk.len())
            .map(|i| {
                let b = i * COLS;
                let p: Vec<String> = (1..=COLS).map(|k| format!("${}", b + k)).collect();
                format!("({}, ${})", p.join(", "), b + COLS)
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO licenses (id, customer_id, type, state, standard_seats, server_seats, extra_space_gb, \
             client_limit_gb, created, valid_to, comments, created_at, updated_at) VALUES {values}"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, customer, f) in chunk {
            q = q
                .bind(id.to_db())
                .bind(customer.to_db())
                .bind(f.r#type.as_str())
                .bind(f.state.as_str())
                .bind(f.standard_seats)
                .bind(f.server_seats)
                .bind(f.extra_space_gb)
                .bind(f.client_limit_gb)
                .bind(f.created.as_str())
                .bind(f.valid_to.as_str())
                .bind(f.comments)
                .bind(now);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Every license of one vendor's customers (or of all), by customer: an
/// import decides where each row's invites go in memory.
pub async fn ids_by_customer(
    conn: &mut AnyConnection,
    vendor: Option<VendorId>,
) -> Result<Vec<(CustomerId, LicenseId)>> {
    Ok(sqlx::query_as(
        "SELECT l.customer_id, l.id FROM licenses l JOIN customers c ON c.id = l.customer_id \
         WHERE ($1 IS NULL OR c.vendor_id = $1) ORDER BY l.id",
    )
    .bind(vendor.map(|v| v.to_db()))
    .fetch_all(&mut *conn)
    .await?)
}
