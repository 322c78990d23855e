//! Failure counters in fixed windows, shared by all instances.

use sqlx::AnyConnection;

use super::Result;
use crate::domain::Millis;

/// For each key, the failures recorded in its window that is still open
/// at `now` and when that window started (0 and `now` for none), in the
/// order of `keys`; one query for all.
pub async fn failures(
    conn: &mut AnyConnection,
    keys: &[&str],
    window_ms: i64,
    now: Millis,
) -> Result<Vec<(i64, Millis)>> {
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT key, failures, window_start FROM rate_limits WHERE key IN ({}) AND window_start > $2",
        super::json_list(conn, 1)
    )))
    .bind(super::json_param(&keys)?)
    .bind(now - window_ms)
    .fetch_all(&mut *conn)
    .await?;
    Ok(keys
        .iter()
        .map(|k| {
            rows.iter()
                .find(|(key, ..)| key == k)
                .map_or((0, now), |(_, n, start)| (*n, *start))
        })
        .collect())
}

/// Counts one failure: a new window if the last one has closed.
pub async fn record_failure(
    conn: &mut AnyConnection,
    key: &str,
    window_ms: i64,
    now: Millis,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO rate_limits (key, window_start, failures) VALUES ($1, $2, 1) \
         ON CONFLICT (key) DO UPDATE SET \
           failures = CASE WHEN rate_limits.window_start > $3 THEN rate_limits.failures + 1 ELSE 1 END, \
           window_start = CASE WHEN rate_limits.window_start > $3 THEN rate_limits.window_start ELSE $2 END",
    )
    .bind(key)
    .bind(now)
    .bind(now - window_ms)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn clear(conn: &mut AnyConnection, key: &str) -> Result<()> {
    sqlx::query("DELETE FROM rate_limits WHERE key = $1")
        .bind(key)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
