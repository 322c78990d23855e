//! Storage: every SQL statement lives under this folder, and so does every
//! difference between SQLite and PostgreSQL.
//!
//! Both backends go through sqlx's `Any` driver with one migration tree in a
//! portable SQL subset: ids are UUID text, times are BIGINT milliseconds,
//! dates are ISO text, booleans are 0/1 BIGINT. SQL uses `$n` placeholders,
//! which both backends accept. Where the backends really differ (row claims
//! with `SKIP LOCKED`), the function says so and branches on [`Backend`].
//! PostgreSQL's `SUM` of BIGINT is NUMERIC, which `Any` cannot decode:
//! aggregates are `CAST(… AS BIGINT)`.
//!
//! On SQLite every write goes through a single connection (one writer is
//! SQLite's model; more only adds lock waits), reads through a small pool of
//! read-only connections. On PostgreSQL one pool serves both.

pub mod alerts;
pub mod audit;
pub mod backup;
pub mod customers;
pub mod generate;
pub mod installations;
pub mod invites;
pub mod licenses;
pub mod monitoring;
pub mod operators;
pub mod outbox;
pub mod passkeys;
pub mod password_resets;
pub mod ratelimit;
pub mod repositories;
pub mod sessions;
pub mod settings;
pub mod two_factor;
pub mod usage;
pub mod vendors;
pub mod webhooks;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, ConnectOptions, Row};

pub use sqlx::AnyConnection as Conn;

/// A transaction on the write side.
pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// The database product behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The product's name, for people (Settings).
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

/// Errors of the storage layer. Constraint violations are told apart so the
/// service layer can turn them into clear answers instead of 500s.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unique constraint violated: {0}")]
    Unique(String),
    #[error("check or foreign-key constraint violated: {0}")]
    Constraint(String),
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Db(sqlx::Error),
    /// A transaction lost to contention (reported to each request of a
    /// batch); the operation may be tried again.
    #[error("contention: {0}")]
    Contention(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            let msg = db.message().to_string();
            match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation => return StoreError::Unique(msg),
                sqlx::error::ErrorKind::CheckViolation
                | sqlx::error::ErrorKind::ForeignKeyViolation
                | sqlx::error::ErrorKind::NotNullViolation => return StoreError::Constraint(msg),
                _ => {}
            }
        }
        StoreError::Db(e)
    }
}

impl StoreError {
    /// Contention a retry resolves: PostgreSQL serialization failures and
    /// deadlocks, SQLite busy.
    pub fn is_contention(&self) -> bool {
        match self {
            StoreError::Contention(_) => true,
            StoreError::Db(sqlx::Error::Database(db)) => {
                matches!(
                    db.code().as_deref(),
                    Some("40001") | Some("40P01") | Some("5") | Some("6")
                )
            }
            _ => false,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Columns that hold a domain value as text — ids and the lower-case words
/// of enumerations — decode straight into that type (and, being a plain
/// `Decode`, into `Option<T>` for a nullable column). A value that does not
/// parse is a decode error of its column: corruption fails loudly, once,
/// here, and the service layer never re-parses row strings.
macro_rules! text_column {
    ($($t:ty),* $(,)?) => {$(
        impl sqlx::Type<sqlx::Any> for $t {
            fn type_info() -> sqlx::any::AnyTypeInfo {
                <String as sqlx::Type<sqlx::Any>>::type_info()
            }
            fn compatible(ty: &sqlx::any::AnyTypeInfo) -> bool {
                <String as sqlx::Type<sqlx::Any>>::compatible(ty)
            }
        }
        impl<'r> sqlx::Decode<'r, sqlx::Any> for $t {
            fn decode(value: sqlx::any::AnyValueRef<'r>) -> std::result::Result<Self, sqlx::error::BoxDynError> {
                let s = <String as sqlx::Decode<'r, sqlx::Any>>::decode(value)?;
                Ok(<$t>::try_from(s)?)
            }
        }
    )*};
}
use crate::domain as d;
text_column!(
    d::VendorId,
    d::OperatorId,
    d::CustomerId,
    d::LicenseId,
    d::TokenId,
    d::AuditId,
    d::InviteId,
    d::MessageId,
    d::InstallationId,
    d::AlertId,
    d::invite::SoftwareType,
    d::license::LicenseState,
    d::license::LicenseType,
    d::license::Day,
    d::Role,
    d::health::Health,
    d::history::RunStatus,
    d::invite::DeliveryState,
);

/// Options for opening the store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `sqlite://…` or `postgres://…`.
    pub url: String,
    /// Pool size on PostgreSQL (and SQLite readers).
    pub max_connections: u32,
    /// SQLite `synchronous` level: `full` (default) or `normal`.
    pub sqlite_synchronous: String,
}

/// The opened database.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    write: AnyPool,
    read: AnyPool,
    /// SQLite: the connection of the background checkpoint.
    checkpoint: Option<AnyPool>,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// WAL size (pages) at which the SQLite writer checkpoints itself, so that
/// the WAL restarts from its beginning: at most about 40 MB.
const WAL_RESTART_PAGES: u32 = 10_000;

/// How often the background checkpoint copies the WAL into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// SQLite: copies committed pages from the WAL into the database file on a
/// connection of its own, a few times a second, so that the single writer
/// does not (SQLite's automatic checkpoint runs inside the commit that
/// crosses the threshold, and every write waits for it). A passive
/// checkpoint never blocks the writer or readers. When the WAL reaches
/// [`WAL_RESTART_PAGES`], the writer's own checkpoint finds nearly all of
/// it copied already and the WAL starts over. Stops when the pool closes.
async fn checkpoint_beside_the_writer(pool: AnyPool) {
    loop {
        tokio::time::sleep(CHECKPOINT_EVERY).await;
        if pool.is_closed() {
            return;
        }
        let done = async {
            let mut c = pool.acquire().await?;
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&mut *c)
                .await?;
            Ok::<(), sqlx::Error>(())
        }
        .await;
        if let Err(e) = done {
            if pool.is_closed() {
                return;
            }
            tracing::debug!(error = %e, "background WAL checkpoint");
        }
    }
}

impl Store {
    /// Opens the database and checks the connection settings that
    /// correctness depends on (WAL, foreign keys, busy timeout on SQLite).
    pub async fn open(opts: &StoreOptions) -> anyhow::Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if opts.url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if opts.url.starts_with("postgres:") || opts.url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            anyhow::bail!(
                "CC_DATABASE_URL must start with sqlite: or postgres:, got {}",
                redact_url(&opts.url)
            );
        };
        let connect_opts = AnyConnectOptions::from_str(&opts.url)
            .map_err(|e| anyhow::anyhow!("bad database URL {}: {e}", redact_url(&opts.url)))?
            .log_statements(tracing::log::LevelFilter::Trace)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
        match backend {
            Backend::Sqlite => {
                let sync = match opts.sqlite_synchronous.as_str() {
                    "full" => "FULL",
                    "normal" => "NORMAL",
                    other => {
                        anyhow::bail!("CC_SQLITE_SYNCHRONOUS must be full or normal, got {other:?}")
                    }
                };
                let pragmas = format!(
                    "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; \
                     PRAGMA busy_timeout = 10000; PRAGMA synchronous = {sync};"
                );
                // The writer checkpoints only as a backstop (the WAL then
                // restarts): the copying is done beside it, see
                // `checkpoint_beside_the_writer`.
                // A larger page cache than the readers': the writer touches
                // every client's row and index pages over and over.
                let p1 = format!(
                    "{pragmas} PRAGMA wal_autocheckpoint = {WAL_RESTART_PAGES}; \
                     PRAGMA cache_size = -65536;"
                );
                let write = AnyPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(30))
                    .after_connect(move |c, _| {
                        let p = p1.clone();
                        Box::pin(async move {
                            sqlx::raw_sql(sqlx::AssertSqlSafe(p))
                                .execute(&mut *c)
                                .await?;
                            Ok(())
                        })
                    })
                    .connect_with(connect_opts.clone())
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot open the SQLite database: {e}"))?;
                let p3 = pragmas.clone();
                let p2 = format!("{pragmas} PRAGMA query_only = ON;");
                let read = AnyPoolOptions::new()
                    .max_connections(opts.max_connections.clamp(1, 8))
                    .acquire_timeout(Duration::from_secs(30))
                    .after_connect(move |c, _| {
                        let p = p2.clone();
                        Box::pin(async move {
                            sqlx::raw_sql(sqlx::AssertSqlSafe(p))
                                .execute(&mut *c)
                                .await?;
                            Ok(())
                        })
                    })
                    .connect_with(connect_opts.clone())
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot open the SQLite database: {e}"))?;
                let checkpoint = AnyPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(30))
                    .after_connect(move |c, _| {
                        let p = p3.clone();
                        Box::pin(async move {
                            sqlx::raw_sql(sqlx::AssertSqlSafe(p))
                                .execute(&mut *c)
                                .await?;
                            Ok(())
                        })
                    })
                    .connect_with(connect_opts)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot open the SQLite database: {e}"))?;
                let store = Store {
                    backend,
                    write,
                    read,
                    checkpoint: Some(checkpoint.clone()),
                };
                store.check_sqlite_pragmas().await?;
                tokio::spawn(checkpoint_beside_the_writer(checkpoint));
                Ok(store)
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(opts.max_connections.max(2))
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(connect_opts)
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "cannot connect to PostgreSQL at {}: {e}",
                            redact_url(&opts.url)
                        )
                    })?;
                Ok(Store {
                    backend,
                    write: pool.clone(),
                    read: pool,
                    checkpoint: None,
                })
            }
        }
    }

    /// Refuses to go on if SQLite did not take the settings we rely on.
    async fn check_sqlite_pragmas(&self) -> anyhow::Result<()> {
        for pool in [&self.write, &self.read] {
            let mut c = pool.acquire().await?;
            let mode: String = sqlx::query("PRAGMA journal_mode")
                .fetch_one(&mut *c)
                .await?
                .try_get(0)?;
            let fk: i64 = sqlx::query("PRAGMA foreign_keys")
                .fetch_one(&mut *c)
                .await?
                .try_get(0)?;
            let busy: i64 = sqlx::query("PRAGMA busy_timeout")
                .fetch_one(&mut *c)
                .await?
                .try_get(0)?;
            if !mode.eq_ignore_ascii_case("wal") || fk != 1 || busy < 1000 {
                anyhow::bail!(
                    "SQLite did not accept the required settings (journal_mode={mode}, \
                     foreign_keys={fk}, busy_timeout={busy}); refusing to start"
                );
            }
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Runs the embedded migrations.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        MIGRATOR
            .run(&self.write)
            .await
            .map_err(|e| anyhow::anyhow!("migrations failed: {e}"))
    }

    /// Starts a write transaction. On SQLite it takes the write lock at
    /// once (`BEGIN IMMEDIATE`): a deferred transaction that reads first
    /// and writes later fails at once with "database is locked" (no busy
    /// wait) when another process wrote in between — as a second console
    /// on the same file does; an immediate one waits its turn.
    pub async fn begin(&self) -> Result<Tx> {
        Ok(match self.backend {
            Backend::Sqlite => self.write.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.write.begin().await?,
        })
    }

    /// A connection for reads.
    pub async fn read(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        Ok(self.read.acquire().await?)
    }

    /// Refreshes the planner's statistics after a bulk load (and, on
    /// PostgreSQL, compacts the installations the load updated in place).
    /// Runs outside a transaction, as VACUUM must.
    pub async fn analyze_after_bulk_load(&self) -> Result<()> {
        let mut c = self.write.acquire().await?;
        let statements: &[&str] = match self.backend {
            Backend::Sqlite => &["ANALYZE"],
            Backend::Postgres => &["VACUUM (FULL, ANALYZE) installations", "ANALYZE"],
        };
        for sql in statements {
            sqlx::raw_sql(sqlx::AssertSqlSafe(*sql))
                .execute(&mut *c)
                .await?;
        }
        Ok(())
    }

    /// `SELECT 1` for readiness.
    pub async fn ping(&self) -> Result<()> {
        let mut c = self.read().await?;
        sqlx::query("SELECT 1").execute(&mut *c).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
        if let Some(c) = &self.checkpoint {
            c.close().await;
        }
    }
}

/// Hides a password in a database URL before it is shown anywhere.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// 0/1 as stored for booleans.
pub(crate) fn b(v: bool) -> i64 {
    i64::from(v)
}

/// Reads the first column of an optional row as i64 (COUNT etc.).
pub(crate) async fn scalar_i64(conn: &mut AnyConnection, sql: &'static str) -> Result<i64> {
    let row = sqlx::query(sql).fetch_one(&mut *conn).await?;
    Ok(row.try_get::<i64, _>(0)?)
}

/// The type of a column in rows passed as one JSON parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonCol {
    Text,
    Int,
}

/// Whether a connection talks to PostgreSQL (else SQLite).
pub(crate) fn is_postgres(conn: &AnyConnection) -> bool {
    conn.backend_name().starts_with("Postgre")
}

/// A row source over parameter `$param` holding a JSON array of arrays,
/// one inner array per row: `(SELECT … AS name, …) AS alias`.
///
/// A batch goes to the database as one parameter, so the SQL text is the
/// same for any batch size (one prepared statement, cached) and SQLite does
/// not look up a thousand named parameters one by one (sqlx resolves each
/// `$n` by name, a linear scan in SQLite: quadratic in a multi-row VALUES).
pub(crate) fn json_rows(
    conn: &AnyConnection,
    param: usize,
    alias: &str,
    cols: &[(&str, JsonCol)],
) -> String {
    let pg = is_postgres(conn);
    let fields: Vec<String> = cols
        .iter()
        .enumerate()
        .map(|(i, (name, ty))| match (pg, ty) {
            (false, _) => format!("value ->> {i} AS {name}"),
            (true, JsonCol::Text) => format!("(r ->> {i}) AS {name}"),
            (true, JsonCol::Int) => format!("CAST(r ->> {i} AS BIGINT) AS {name}"),
        })
        .collect();
    if pg {
        format!(
            "(SELECT {} FROM json_array_elements(CAST(${param} AS JSON)) AS t(r)) AS {alias}",
            fields.join(", ")
        )
    } else {
        format!(
            "(SELECT {} FROM json_each(${param})) AS {alias}",
            fields.join(", ")
        )
    }
}

/// `INSERT INTO table (cols…) SELECT cols… FROM` the rows of parameter
/// `$param` (see [`json_rows`]): every column straight from the batch.
pub(crate) fn json_insert(
    conn: &AnyConnection,
    table: &str,
    param: usize,
    cols: &[(&str, JsonCol)],
) -> String {
    let names = cols.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
    format!(
        "INSERT INTO {table} ({names}) SELECT {names} FROM {}",
        json_rows(conn, param, "v", cols)
    )
}

/// A batch as the text of one JSON parameter (for [`json_rows`] and
/// [`json_list`]).
pub(crate) fn json_param<T: serde::Serialize>(rows: &T) -> Result<String> {
    serde_json::to_string(rows).map_err(|e| StoreError::Corrupt(format!("batch to JSON: {e}")))
}

/// A one-column list over parameter `$param` holding a JSON array of
/// strings, for `x IN (…)`.
pub(crate) fn json_list(conn: &AnyConnection, param: usize) -> String {
    if is_postgres(conn) {
        format!("SELECT json_array_elements_text(CAST(${param} AS JSON))")
    } else {
        format!("SELECT value FROM json_each(${param})")
    }
}

/// Rows per multi-row INSERT of an import. Measured on SQLite with 10,000
/// customers: larger statements got slower (parameter handling grows faster
/// than the row count), one row per statement pays a round trip each.
pub const IMPORT_CHUNK: usize = 50;
