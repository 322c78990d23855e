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

/// Reserves one attempt under `key` if fewer than `limit` are counted in
/// its open window (a new window if the last one has closed); answers
/// whether it did. One guarded upsert: parallel attempts — on one
/// instance or many — cannot pass the limit together, because each
/// attempt is counted before its secret is verified. A reserved attempt
/// that succeeds is given back with [`release`] (or the key [`clear`]ed).
pub async fn reserve(
    conn: &mut AnyConnection,
    key: &str,
    limit: i64,
    window_ms: i64,
    now: Millis,
) -> Result<bool> {
    let row: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO rate_limits (key, window_start, failures) VALUES ($1, $2, 1) \
         ON CONFLICT (key) DO UPDATE SET \
           failures = CASE WHEN rate_limits.window_start > $3 THEN rate_limits.failures + 1 ELSE 1 END, \
           window_start = CASE WHEN rate_limits.window_start > $3 THEN rate_limits.window_start ELSE $2 END \
         WHERE rate_limits.window_start <= $3 OR rate_limits.failures < $4 \
         RETURNING failures",
    )
    .bind(key)
    .bind(now)
    .bind(now - window_ms)
    .bind(limit)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.is_some())
}

/// Gives back one reserved attempt that was not a failure.
pub async fn release(conn: &mut AnyConnection, key: &str) -> Result<()> {
    sqlx::query("UPDATE rate_limits SET failures = failures - 1 WHERE key = $1 AND failures > 0")
        .bind(key)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Like [`failures`], but the rows are locked until the transaction ends
/// (PostgreSQL: created if missing, then `FOR UPDATE` in key order, so
/// instances wait for each other instead of counting past a limit; SQLite:
/// the one write connection already serialises transactions).
pub async fn lock_failures(
    conn: &mut AnyConnection,
    keys: &[&str],
    window_ms: i64,
    now: Millis,
) -> Result<Vec<(i64, Millis)>> {
    if super::is_postgres(conn) && !keys.is_empty() {
        let mut sorted: Vec<&str> = keys.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO rate_limits (key, window_start, failures) SELECT k, $2, 0 FROM ({}) AS t(k) \
             ORDER BY k ON CONFLICT (key) DO NOTHING",
            super::json_list(conn, 1)
        )))
        .bind(super::json_param(&sorted)?)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT key FROM rate_limits WHERE key IN ({}) ORDER BY key FOR UPDATE",
            super::json_list(conn, 1)
        )))
        .bind(super::json_param(&sorted)?)
        .execute(&mut *conn)
        .await?;
    }
    failures(conn, keys, window_ms, now).await
}

/// Counts `n` failures under `key` at once (a new window if the last one
/// has closed).
pub async fn add_failures(
    conn: &mut AnyConnection,
    key: &str,
    n: i64,
    window_ms: i64,
    now: Millis,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO rate_limits (key, window_start, failures) VALUES ($1, $2, $4) \
         ON CONFLICT (key) DO UPDATE SET \
           failures = CASE WHEN rate_limits.window_start > $3 THEN rate_limits.failures + $4 ELSE $4 END, \
           window_start = CASE WHEN rate_limits.window_start > $3 THEN rate_limits.window_start ELSE $2 END",
    )
    .bind(key)
    .bind(now)
    .bind(now - window_ms)
    .bind(n)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Deletes counters whose window began before `before` (windows are
/// minutes long: such a row counts nothing any more).
pub async fn delete_stale(conn: &mut AnyConnection, before: Millis) -> Result<u64> {
    let r = sqlx::query("DELETE FROM rate_limits WHERE window_start < $1")
        .bind(before)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected())
}

pub async fn clear(conn: &mut AnyConnection, key: &str) -> Result<()> {
    sqlx::query("DELETE FROM rate_limits WHERE key = $1")
        .bind(key)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
