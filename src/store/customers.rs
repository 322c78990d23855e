//! Customers (organisations).

use sqlx::AnyConnection;

use super::{IMPORT_CHUNK, Result};
use crate::domain::{CustomerId, Millis, VendorId};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CustomerRow {
    pub id: CustomerId,
    pub vendor_id: VendorId,
    pub vendor_name: String,
    pub name: String,
    pub vat_id: String,
    pub street_address: String,
    pub postal_code: String,
    pub postal_area: String,
    pub country: String,
    pub language: String,
    pub contact_email: Option<String>,
    pub encryption_key_enc: Option<String>,
    pub username_prefix: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const SELECT: &str = "SELECT c.id, c.vendor_id, v.name AS vendor_name, c.name, c.vat_id, c.street_address, \
     c.postal_code, c.postal_area, c.country, c.language, c.contact_email, c.encryption_key_enc, \
     c.username_prefix, c.created_at, c.updated_at FROM customers c JOIN vendors v ON v.id = c.vendor_id";

/// What a customer row holds, for insert and update.
#[derive(Clone, Copy)]
pub struct CustomerFields<'a> {
    pub vendor_id: VendorId,
    pub name: &'a str,
    pub vat_id: &'a str,
    pub street_address: &'a str,
    pub postal_code: &'a str,
    pub postal_area: &'a str,
    pub country: &'a str,
    pub language: &'a str,
    pub contact_email: Option<&'a str>,
    pub encryption_key_enc: Option<&'a str>,
    pub username_prefix: Option<&'a str>,
}

impl CustomerFields<'_> {
    fn search_text(&self) -> String {
        format!(
            "{} {} {}",
            self.name,
            self.vat_id,
            self.username_prefix.unwrap_or("")
        )
        .to_lowercase()
    }
}

pub async fn get(conn: &mut AnyConnection, id: CustomerId) -> Result<Option<CustomerRow>> {
    Ok(
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE c.id = $1")))
            .bind(id.to_db())
            .fetch_optional(&mut *conn)
            .await?,
    )
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`.
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// One page of customers ordered by name: optionally one vendor's, and
/// matching a search text (name, VAT id or prefix). `after` is the id of
/// the last row of the previous page (keyset pagination).
pub async fn list(
    conn: &mut AnyConnection,
    vendor: Option<VendorId>,
    search: Option<&str>,
    after: Option<CustomerId>,
    limit: i64,
) -> Result<Vec<CustomerRow>> {
    let pattern = search
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
        .map(|s| format!("%{}%", like_escape(&s)));
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE ($1 IS NULL OR c.vendor_id = $1) \
         AND ($2 IS NULL OR c.search_text LIKE $2 ESCAPE '\\') \
         AND ($3 IS NULL OR (lower(c.name), c.id) > (SELECT lower(name), id FROM customers WHERE id = $3)) \
         ORDER BY lower(c.name), c.id LIMIT $4"
    )))
    .bind(vendor.map(|v| v.to_db()))
    .bind(pattern)
    .bind(after.map(|a| a.to_db()))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

pub async fn insert(
    conn: &mut AnyConnection,
    id: CustomerId,
    f: &CustomerFields<'_>,
    now: Millis,
) -> Result<()> {
    insert_many(conn, &[(id, *f)], now).await
}

pub async fn update(
    conn: &mut AnyConnection,
    id: CustomerId,
    f: &CustomerFields<'_>,
    now: Millis,
) -> Result<bool> {
    Ok(update_many(conn, &[(id, *f)], now).await? == 1)
}

/// Seats in use over all of a customer's licenses (active installations).
pub async fn seats_in_use(conn: &mut AnyConnection, id: CustomerId) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(standard_used + server_used), 0) AS BIGINT) FROM licenses WHERE customer_id = $1",
    )
    .bind(id.to_db())
    .fetch_one(&mut *conn)
    .await?)
}

/// Deletes a customer (its licenses go with it), only while no seat is in
/// use — checked in the same statement, so an activation racing the delete
/// either lands first (and the delete is refused) or finds no license.
pub async fn delete_if_unused(conn: &mut AnyConnection, id: CustomerId) -> Result<bool> {
    let r = sqlx::query(
        "DELETE FROM customers WHERE id = $1 AND NOT EXISTS \
         (SELECT 1 FROM licenses WHERE customer_id = $1 AND (standard_used > 0 OR server_used > 0))",
    )
    .bind(id.to_db())
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Every customer of one vendor, or of all (an import matches its rows
/// against them in memory: one query, whatever the file's size).
pub async fn all_of(
    conn: &mut AnyConnection,
    vendor: Option<VendorId>,
) -> Result<Vec<CustomerRow>> {
    let q = match vendor {
        Some(v) => sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE c.vendor_id = $1 ORDER BY c.id"
        )))
        .bind(v.to_db()),
        None => sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} ORDER BY c.id"))),
    };
    Ok(q.fetch_all(&mut *conn).await?)
}

/// Every username prefix in use and its customer (prefixes are unique
/// across vendors).
pub async fn prefixes(conn: &mut AnyConnection) -> Result<Vec<(String, CustomerId)>> {
    let rows: Vec<(String, CustomerId)> = sqlx::query_as(
        "SELECT username_prefix, id FROM customers WHERE username_prefix IS NOT NULL",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows)
}

/// Inserts many customers, a few hundred per statement (an import: each
/// statement is one round trip to the database's worker).
pub async fn insert_many(
    conn: &mut AnyConnection,
    rows: &[(CustomerId, CustomerFields<'_>)],
    now: Millis,
) -> Result<()> {
    const COLS: usize = 14;
    for chunk in rows.chunks(IMPORT_CHUNK) {
        let values = (0..chunk.len())
            .map(|i| {
                let b = i * COLS;
                let p: Vec<String> = (1..=COLS).map(|k| format!("${}", b + k)).collect();
                // created_at and updated_at are the same moment
                format!("({}, ${})", p.join(", "), b + COLS)
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO customers (id, vendor_id, name, vat_id, street_address, postal_code, postal_area, \
             country, language, contact_email, encryption_key_enc, username_prefix, search_text, created_at, updated_at) \
             VALUES {values}"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, f) in chunk {
            q = q
                .bind(id.to_db())
                .bind(f.vendor_id.to_db())
                .bind(f.name)
                .bind(f.vat_id)
                .bind(f.street_address)
                .bind(f.postal_code)
                .bind(f.postal_area)
                .bind(f.country)
                .bind(f.language)
                .bind(f.contact_email)
                .bind(f.encryption_key_enc)
                .bind(f.username_prefix)
                .bind(f.search_text())
                .bind(now);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Rows per statement of [`update_many`]: one JSON parameter each, so
/// the statement text (and its plan) is the same for every chunk.
const UPDATE_CHUNK: usize = 1_000;

/// Updates many customers with one statement per 1,000 rows (`UPDATE …
/// FROM` the rows of one JSON parameter), then brings the installations'
/// and alerts' copies of their vendor and name up to date in one
/// statement each — a re-import of 10,000 changed rows is a handful of
/// round trips instead of three per row. Returns how many customers were
/// updated.
pub async fn update_many(
    conn: &mut AnyConnection,
    rows: &[(CustomerId, CustomerFields<'_>)],
    now: Millis,
) -> Result<u64> {
    use super::JsonCol::Text;
    let mut updated = 0;
    for chunk in rows.chunks(UPDATE_CHUNK) {
        let values: Vec<_> = chunk
            .iter()
            .map(|(id, f)| {
                (
                    id.to_db(),
                    f.vendor_id.to_db(),
                    f.name,
                    f.vat_id,
                    f.street_address,
                    f.postal_code,
                    f.postal_area,
                    f.country,
                    f.language,
                    f.contact_email,
                    f.encryption_key_enc,
                    f.username_prefix,
                    f.search_text(),
                )
            })
            .collect();
        let src = super::json_rows(
            conn,
            1,
            "v",
            &[
                ("id", Text),
                ("vendor_id", Text),
                ("name", Text),
                ("vat_id", Text),
                ("street_address", Text),
                ("postal_code", Text),
                ("postal_area", Text),
                ("country", Text),
                ("language", Text),
                ("contact_email", Text),
                ("encryption_key_enc", Text),
                ("username_prefix", Text),
                ("search_text", Text),
            ],
        );
        let sql = format!(
            "UPDATE customers SET vendor_id = v.vendor_id, name = v.name, vat_id = v.vat_id, \
             street_address = v.street_address, postal_code = v.postal_code, postal_area = v.postal_area, \
             country = v.country, language = v.language, contact_email = v.contact_email, \
             encryption_key_enc = v.encryption_key_enc, username_prefix = v.username_prefix, \
             search_text = v.search_text, updated_at = $2 FROM {src} WHERE customers.id = v.id"
        );
        updated += sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(super::json_param(&values)?)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        let ids: Vec<String> = chunk.iter().map(|(id, _)| id.to_db()).collect();
        let list = super::json_list(conn, 1);
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE installations SET vendor_id = c.vendor_id, sort_name = lower(c.name) FROM customers c \
             WHERE c.id = installations.customer_id AND installations.deactivated_at IS NULL \
             AND installations.customer_id IN ({list})"
        )))
        .bind(super::json_param(&ids)?)
        .execute(&mut *conn)
        .await?;
        // A customer moved to another vendor takes its alerts along.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE alerts SET vendor_id = c.vendor_id FROM customers c \
             WHERE c.id = alerts.customer_id AND alerts.vendor_id <> c.vendor_id \
             AND alerts.customer_id IN ({list})"
        )))
        .bind(super::json_param(&ids)?)
        .execute(&mut *conn)
        .await?;
    }
    Ok(updated)
}
