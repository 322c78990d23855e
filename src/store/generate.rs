//! Bulk data for scale tests and benchmarks (`command-center demo
//! --customers … --installations … --reports …`). Rows are written in large
//! multi-row statements; reports are made by the database itself, one
//! statement per day of history, so ten million rows need no round trips.
//! Generated clients have usernames `gen000001`… and a token hash that
//! starts `generated-` (no real token hashes so: they are hex), which is how
//! the statements below find them.

use sqlx::AnyConnection;

use super::{Backend, Result};
use crate::domain::Millis;

const DAY_MS: i64 = 86_400_000;

/// Whether generated data is there already.
pub async fn exists(conn: &mut AnyConnection) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM vendors WHERE name = 'Generated vendor 1'",
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(n > 0)
}

/// Inserts rows of `columns` into `table`, many rows per statement.
/// Values are bound, never spliced.
pub async fn insert_rows(
    conn: &mut AnyConnection,
    table: &str,
    columns: &[&str],
    rows: &[Vec<Value>],
) -> Result<()> {
    let per = (30_000 / columns.len()).max(1);
    for chunk in rows.chunks(per) {
        let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
        let mut n = 0;
        for (i, row) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for j in 0..row.len() {
                n += 1;
                if j > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("${n}"));
            }
            sql.push(')');
        }
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for row in chunk {
            for v in row {
                q = match v {
                    Value::Int(i) => q.bind(*i),
                    Value::Text(t) => q.bind(t.clone()),
                    Value::Null => q.bind(None::<String>),
                };
            }
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// A bound value of [`insert_rows`].
#[derive(Debug, Clone)]
pub enum Value {
    Int(i64),
    Text(String),
    Null,
}

/// A UUID-shaped, time-ordered id made in SQL from a millisecond time and
/// two numbers that make it unique (the layout of a UUIDv7).
fn uuid_sql(backend: Backend, ms: &str, a: &str, b: &str) -> String {
    match backend {
        Backend::Sqlite => format!(
            "printf('%08x-%04x-7%03x-8000-%012x', ({ms}) >> 16, ({ms}) & 65535, ({a}) & 4095, {b})"
        ),
        Backend::Postgres => format!(
            "lpad(to_hex(({ms}) >> 16), 8, '0') || '-' || lpad(to_hex(({ms}) & 65535), 4, '0') || '-7' \
             || lpad(to_hex(({a}) & 4095), 3, '0') || '-8000-' || lpad(to_hex({b}), 12, '0')"
        ),
    }
}

/// One day of backup runs for every generated client that reports:
/// `day` counts back from today (0 = the last run). A client's kind is its
/// number modulo 100: 0–2 never reported (no rows), 3–5 stopped three days
/// ago (overdue), 6–9 failed its last two runs, 10–14 ended its last run
/// with warnings; the rest succeed, with an occasional failure in the past.
pub async fn reports_for_day(
    conn: &mut AnyConnection,
    backend: Backend,
    now: Millis,
    day: i64,
) -> Result<u64> {
    let seq = "CAST(substr(n.username, 4) AS BIGINT)";
    let finished = format!(
        "($1 - $2 * {DAY_MS} - ({seq} % 1000) * 60000 \
         - CASE WHEN {seq} % 100 BETWEEN 3 AND 5 THEN 3 * {DAY_MS} ELSE 0 END)"
    );
    let id = uuid_sql(backend, &finished, "$2", seq);
    let sql = format!(
        "INSERT INTO reports (id, installation_id, started_at, finished_at, status, bytes_total, bytes_uploaded, \
         files_total, files_changed, message, received_at) \
         SELECT {id}, n.id, {finished} - 1200000, {finished}, \
           CASE WHEN {seq} % 100 BETWEEN 6 AND 9 AND $2 < 2 THEN 'failed' \
                WHEN {seq} % 100 BETWEEN 10 AND 14 AND $2 = 0 THEN 'warning' \
                WHEN $2 > 1 AND ({seq} * 31 + $2 * 17) % 53 = 0 THEN 'failed' \
                ELSE 'success' END, \
           (1 + {seq} % 50) * 1000000000 - $2 * 10000000, ({seq} % 7 + 1) * 50000000, \
           100000 + {seq} % 5000, 100 + ({seq} + $2) % 900, \
           CASE WHEN {seq} % 100 BETWEEN 6 AND 9 AND $2 < 2 THEN 'Disk not reachable' ELSE '' END, {finished} \
         FROM installations n WHERE n.token_hash LIKE 'generated-%' AND {seq} % 100 >= 3"
    );
    let r = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .bind(day)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected())
}

/// Sets the generated clients' summaries from their reports (the same
/// fields report ingestion keeps), then their stored health.
pub async fn summarise(conn: &mut AnyConnection) -> Result<()> {
    let last = "(SELECT r.finished_at FROM reports r WHERE r.installation_id = installations.id \
                ORDER BY r.finished_at DESC LIMIT 1)";
    let of_last = |col: &str| {
        format!(
            "(SELECT r.{col} FROM reports r WHERE r.installation_id = installations.id \
             ORDER BY r.finished_at DESC LIMIT 1)"
        )
    };
    let statements = [
        format!(
            "UPDATE installations SET last_backup_at = {last}, last_seen_at = {last}, \
             last_backup_status = {}, storage_used_bytes = COALESCE({}, 0), \
             last_success_at = (SELECT MAX(r.finished_at) FROM reports r \
                                WHERE r.installation_id = installations.id AND r.status <> 'failed') \
             WHERE token_hash LIKE 'generated-%'",
            of_last("status"),
            of_last("bytes_total")
        ),
        "UPDATE installations SET failed_in_row = (SELECT CAST(COUNT(*) AS BIGINT) FROM reports r \
           WHERE r.installation_id = installations.id AND r.finished_at > COALESCE(installations.last_success_at, 0)) \
         WHERE token_hash LIKE 'generated-%'"
            .to_string(),
        format!(
            "UPDATE installations SET health_base = {} WHERE token_hash LIKE 'generated-%'",
            super::installations::HEALTH_BASE
        ),
    ];
    for sql in statements {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
