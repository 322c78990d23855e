//! The console's own backup: a consistent snapshot of the database, the
//! numbers its manifest records, and the checks a restore makes. Every
//! backend difference of backing up lives here.

use std::path::Path;
use std::str::FromStr;

use sqlx::any::AnyConnectOptions;
use sqlx::{AnyConnection, ConnectOptions, Connection, Row};

use super::{Backend, Result, Store, StoreError};

/// What a backup holds, counted inside the snapshot it was taken from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    pub customers: i64,
    pub licenses: i64,
    /// Live installations (not deactivated): each holds one seat.
    pub installations: i64,
    /// Every installation, deactivated ones too.
    pub installations_total: i64,
    pub invites: i64,
    /// Invites neither used nor revoked.
    pub unused_invites: i64,
    /// Seats in use on all licenses (standard + server).
    pub seats_used: i64,
    pub reports: i64,
}

/// Counts the rows a manifest records.
pub async fn counts(conn: &mut AnyConnection) -> Result<Counts> {
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM customers), (SELECT COUNT(*) FROM licenses), \
         (SELECT COUNT(*) FROM installations WHERE deactivated_at IS NULL), \
         (SELECT COUNT(*) FROM installations), (SELECT COUNT(*) FROM invites), \
         (SELECT COUNT(*) FROM invites WHERE used_at IS NULL AND revoked_at IS NULL), \
         (SELECT CAST(COALESCE(SUM(standard_used + server_used), 0) AS BIGINT) FROM licenses), \
         (SELECT COUNT(*) FROM reports)",
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(Counts {
        customers: row.try_get(0)?,
        licenses: row.try_get(1)?,
        installations: row.try_get(2)?,
        installations_total: row.try_get(3)?,
        invites: row.try_get(4)?,
        unused_invites: row.try_get(5)?,
        seats_used: row.try_get(6)?,
        reports: row.try_get(7)?,
    })
}

/// The newest migration applied: (version, description).
pub async fn last_migration(conn: &mut AnyConnection) -> Result<Option<(i64, String)>> {
    let row = sqlx::query(
        "SELECT version, description FROM _sqlx_migrations WHERE success = TRUE \
         ORDER BY version DESC LIMIT 1",
    )
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(r) => Ok(Some((r.try_get(0)?, r.try_get(1)?))),
        None => Ok(None),
    }
}

/// The newest migration this binary carries.
pub fn newest_known_migration() -> i64 {
    super::MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Whether a database holds no table of ours (nor anyone's, in the
/// `public` schema on PostgreSQL): a restore goes only into such a one.
/// Returns the first table found, if any.
pub async fn first_table(conn: &mut AnyConnection) -> Result<Option<String>> {
    let sql = if super::is_postgres(conn) {
        "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
         WHERE table_schema NOT IN ('pg_catalog', 'information_schema') \
         ORDER BY table_name LIMIT 1"
    } else {
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         ORDER BY name LIMIT 1"
    };
    Ok(sqlx::query_scalar(sql).fetch_optional(&mut *conn).await?)
}

/// Opens one connection to a database URL (no pool, no migrations): for
/// the backup and restore commands' checks.
pub async fn connect(url: &str) -> Result<AnyConnection> {
    sqlx::any::install_default_drivers();
    let opts = AnyConnectOptions::from_str(url)?.log_statements(tracing::log::LevelFilter::Trace);
    Ok(opts.connect().await?)
}

/// Opens a SQLite file read-only (a snapshot being checked).
pub async fn open_sqlite_read_only(path: &Path) -> Result<AnyConnection> {
    let url = format!("sqlite://{}?mode=ro", path.display());
    connect(&url).await
}

impl Store {
    /// SQLite: writes a consistent copy of the live database to `dest`
    /// with `VACUUM INTO` (one read transaction: writers go on, the copy
    /// has every commit before it started and none after). Runs on the
    /// connection of the background checkpoint, which is not read-only
    /// and not the writer: reports and activations keep flowing.
    pub async fn sqlite_snapshot(&self, dest: &Path) -> Result<()> {
        let pool = match (self.backend, &self.checkpoint) {
            (Backend::Sqlite, Some(p)) => p,
            _ => {
                return Err(StoreError::Corrupt(
                    "a SQLite snapshot needs a SQLite database".into(),
                ));
            }
        };
        let dest = dest
            .to_str()
            .ok_or_else(|| StoreError::Corrupt("the snapshot path is not UTF-8".into()))?;
        let mut c = pool.acquire().await?;
        sqlx::query("VACUUM INTO $1")
            .bind(dest)
            .execute(&mut *c)
            .await?;
        Ok(())
    }

    /// PostgreSQL: opens a repeatable-read transaction and exports its
    /// snapshot, so that `pg_dump --snapshot` dumps exactly what this
    /// transaction sees (and the counts read in it match the dump). The
    /// snapshot lives as long as the returned value.
    pub async fn pg_snapshot(&self) -> Result<PgSnapshot> {
        if self.backend != Backend::Postgres {
            return Err(StoreError::Corrupt(
                "an exported snapshot needs PostgreSQL".into(),
            ));
        }
        let mut tx = self
            .write
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?;
        let id: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
            .fetch_one(&mut *tx)
            .await?;
        Ok(PgSnapshot { tx, id })
    }
}

/// An exported PostgreSQL snapshot held open by its transaction.
pub struct PgSnapshot {
    pub tx: super::Tx,
    /// What `pg_dump --snapshot=` takes.
    pub id: String,
}

impl PgSnapshot {
    /// Ends the transaction (it wrote nothing).
    pub async fn finish(self) -> Result<()> {
        self.tx.rollback().await?;
        Ok(())
    }
}

/// SQLite's own check of a database file: `ok` or what is wrong.
pub async fn sqlite_integrity(conn: &mut AnyConnection) -> Result<String> {
    let rows: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows.join("; "))
}

const DAY_CLAIM: &str = "backup_day";

/// Claims the day's scheduled backup (`day` as YYYY-MM-DD) for this
/// instance: true for exactly one caller per day, however many instances
/// share the database (the guarded UPDATE is the claim).
pub async fn claim_day(conn: &mut AnyConnection, day: &str) -> Result<bool> {
    sqlx::query("INSERT INTO settings (key, value) VALUES ($1, '') ON CONFLICT (key) DO NOTHING")
        .bind(DAY_CLAIM)
        .execute(&mut *conn)
        .await?;
    let r = sqlx::query("UPDATE settings SET value = $2 WHERE key = $1 AND value < $2")
        .bind(DAY_CLAIM)
        .bind(day)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// The e-mail addresses of the enabled administrators.
pub async fn admin_emails(conn: &mut AnyConnection) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT email FROM operators WHERE role = 'admin' AND disabled_at IS NULL ORDER BY email",
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// Closes a one-off connection.
pub async fn close(conn: AnyConnection) {
    let _ = conn.close().await;
}
