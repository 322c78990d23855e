//! Installations (activated backup clients), their seats and reports.

use sqlx::AnyConnection;

use super::{Result, StoreError};
use crate::domain::history::RunStatus;
use crate::domain::invite::SoftwareType;
use crate::domain::license::{LicenseState, LicenseType};
use crate::domain::{CustomerId, InstallationId, InviteId, LicenseId, Millis, VendorId};

/// An installation with what its policy and its operators need. Ids and
/// enumerations decode into their domain types here, once.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InstallationRow {
    #[sqlx(try_from = "String")]
    pub id: InstallationId,
    #[sqlx(try_from = "String")]
    pub license_id: LicenseId,
    #[sqlx(try_from = "String")]
    pub license_type: LicenseType,
    #[sqlx(try_from = "String")]
    pub license_state: LicenseState,
    pub valid_to: String,
    pub standard_seats: i64,
    pub server_seats: i64,
    pub extra_space_gb: i64,
    pub client_limit_gb: i64,
    #[sqlx(try_from = "String")]
    pub customer_id: CustomerId,
    pub customer_name: String,
    pub encryption_key_enc: Option<String>,
    #[sqlx(try_from = "String")]
    pub vendor_id: VendorId,
    pub invite_id: Option<String>,
    pub username: String,
    #[sqlx(try_from = "String")]
    pub software_type: SoftwareType,
    pub hostname: String,
    pub os: String,
    pub client_version: String,
    pub store_deleted_days: i64,
    pub trial_email: Option<String>,
    pub activated_at: i64,
    pub deactivated_at: Option<i64>,
    pub last_seen_at: Option<i64>,
    pub last_backup_at: Option<i64>,
    pub last_backup_status: Option<String>,
    pub last_success_at: Option<i64>,
    pub failed_in_row: i64,
    pub storage_used_bytes: i64,
    /// The repository's folder when it is not the installation's own id
    /// (it replaced a computer and continues its repository).
    pub repository_id: Option<String>,
    /// The installation that replaced this one (its repository went along).
    pub replaced_by: Option<String>,
}

impl InstallationRow {
    /// The folder of this installation's repository under the repository
    /// root: its own id, or the replaced computer's repository it continues.
    pub fn repository(&self) -> InstallationId {
        self.repository_id
            .as_deref()
            .and_then(|r| r.parse().ok())
            .unwrap_or(self.id)
    }
}

const SELECT: &str = "SELECT n.id, n.license_id, l.type AS license_type, l.state AS license_state, l.valid_to, \
     l.standard_seats, l.server_seats, l.extra_space_gb, l.client_limit_gb, c.id AS customer_id, \
     c.name AS customer_name, c.encryption_key_enc, c.vendor_id, n.invite_id, n.username, n.software_type, \
     n.hostname, n.os, n.client_version, n.store_deleted_days, n.trial_email, n.activated_at, n.deactivated_at, \
     n.last_seen_at, n.last_backup_at, n.last_backup_status, n.last_success_at, n.failed_in_row, \
     n.storage_used_bytes, n.repository_id, n.replaced_by FROM installations n JOIN licenses l ON l.id = n.license_id \
     JOIN customers c ON c.id = l.customer_id";

/// Takes `n` seats of a type at once, only if all `n` are free. This
/// guarded UPDATE is the truth about seats (`domain::activation` explains
/// the forecast that precedes it): `used + n <= seats`, the rule of
/// `domain::license::Seats::free`, and a CHECK constraint behind it.
pub async fn take_seats(
    conn: &mut AnyConnection,
    license: LicenseId,
    software_type: SoftwareType,
    n: i64,
) -> Result<bool> {
    let sql = match software_type {
        SoftwareType::Server => {
            "UPDATE licenses SET server_used = server_used + $2 WHERE id = $1 AND server_used + $2 <= server_seats"
        }
        SoftwareType::Standard => {
            "UPDATE licenses SET standard_used = standard_used + $2 WHERE id = $1 AND standard_used + $2 <= standard_seats"
        }
    };
    let r = sqlx::query(sql)
        .bind(license.to_db())
        .bind(n)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Takes one seat of a type if one is free.
pub async fn take_seat(
    conn: &mut AnyConnection,
    license: LicenseId,
    software_type: SoftwareType,
) -> Result<bool> {
    take_seats(conn, license, software_type, 1).await
}

/// Gives a seat back.
pub async fn release_seat(
    conn: &mut AnyConnection,
    license: LicenseId,
    software_type: SoftwareType,
) -> Result<()> {
    let sql = match software_type {
        SoftwareType::Server => {
            "UPDATE licenses SET server_used = server_used - 1 WHERE id = $1 AND server_used > 0"
        }
        SoftwareType::Standard => {
            "UPDATE licenses SET standard_used = standard_used - 1 WHERE id = $1 AND standard_used > 0"
        }
    };
    sqlx::query(sql)
        .bind(license.to_db())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Marks invites used; answers the ids this call marked (an invite another
/// activation used or revoked first is left out).
pub async fn use_invites(
    conn: &mut AnyConnection,
    invites: &[&str],
    now: Millis,
) -> Result<Vec<String>> {
    if invites.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "UPDATE invites SET used_at = $2 WHERE id IN ({}) AND used_at IS NULL AND revoked_at IS NULL \
         RETURNING id",
        super::json_list(conn, 1)
    );
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(super::json_param(&invites)?)
        .bind(now)
        .fetch_all(&mut *conn)
        .await?)
}

pub struct NewInstallationRow<'a> {
    pub id: InstallationId,
    pub license_id: LicenseId,
    pub invite_id: Option<InviteId>,
    pub username: &'a str,
    pub software_type: SoftwareType,
    pub hostname: &'a str,
    pub os: &'a str,
    pub client_version: &'a str,
    pub store_deleted_days: i64,
    pub token_hash: &'a str,
    pub trial_email: Option<&'a str>,
}

pub async fn insert(
    conn: &mut AnyConnection,
    r: &NewInstallationRow<'_>,
    now: Millis,
) -> Result<()> {
    insert_many(conn, std::slice::from_ref(r), now).await
}

/// Records installations (one statement for the lot); each takes its
/// customer and vendor from its license.
pub async fn insert_many(
    conn: &mut AnyConnection,
    rows: &[NewInstallationRow<'_>],
    now: Millis,
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    use super::JsonCol::{Int, Text};
    let values: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.id.to_db(),
                r.license_id.to_db(),
                r.invite_id.map(|i| i.to_db()),
                r.username,
                r.software_type.as_str(),
                r.hostname,
                r.os,
                r.client_version,
                r.store_deleted_days,
                r.token_hash,
                r.trial_email,
            )
        })
        .collect();
    let src = super::json_rows(
        conn,
        1,
        "v",
        &[
            ("id", Text),
            ("license_id", Text),
            ("invite_id", Text),
            ("username", Text),
            ("software_type", Text),
            ("hostname", Text),
            ("os", Text),
            ("client_version", Text),
            ("store_deleted_days", Int),
            ("token_hash", Text),
            ("trial_email", Text),
        ],
    );
    let sql = format!(
        "INSERT INTO installations (id, license_id, invite_id, username, software_type, hostname, os, \
         client_version, store_deleted_days, token_hash, trial_email, activated_at, last_seen_at, updated_at, \
         customer_id, vendor_id, sort_name) \
         SELECT v.id, v.license_id, v.invite_id, v.username, v.software_type, v.hostname, v.os, \
         v.client_version, v.store_deleted_days, v.token_hash, v.trial_email, $2, $2, $2, \
         c.id, c.vendor_id, lower(c.name) \
         FROM {src} JOIN licenses l ON l.id = v.license_id JOIN customers c ON c.id = l.customer_id"
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(super::json_param(&values)?)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() != rows.len() as u64 {
        return Err(StoreError::Corrupt(format!(
            "{} of {} installations recorded (a missing license?)",
            done.rows_affected(),
            rows.len()
        )));
    }
    Ok(())
}

pub async fn get(conn: &mut AnyConnection, id: InstallationId) -> Result<Option<InstallationRow>> {
    Ok(
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE n.id = $1")))
            .bind(id.to_db())
            .fetch_optional(&mut *conn)
            .await?,
    )
}

/// The live installation behind a client token.
pub async fn find_by_token(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> Result<Option<InstallationRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE n.token_hash = $1 AND n.deactivated_at IS NULL"
    )))
    .bind(token_hash)
    .fetch_optional(&mut *conn)
    .await?)
}

/// A license's installations, live first, newest first.
pub async fn list_for_license(
    conn: &mut AnyConnection,
    license: LicenseId,
) -> Result<Vec<InstallationRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE n.license_id = $1 ORDER BY CASE WHEN n.deactivated_at IS NULL THEN 0 ELSE 1 END, n.id DESC"
    )))
    .bind(license.to_db())
    .fetch_all(&mut *conn)
    .await?)
}

/// One page of installations (live and retired) for an export, in id
/// order: one vendor's or all, after the id `after` (keyset pagination).
pub async fn export_page(
    conn: &mut AnyConnection,
    vendor: Option<VendorId>,
    after: Option<InstallationId>,
    limit: i64,
) -> Result<Vec<InstallationRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE ($1 IS NULL OR c.vendor_id = $1) AND ($2 IS NULL OR n.id > $2) ORDER BY n.id LIMIT $3"
    )))
    .bind(vendor.map(|v| v.to_db()))
    .bind(after.map(|a| a.to_db()))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// Live trial installations whose e-mail or hostname starts with `text`
/// (case-insensitive: people type part of an address or a host name).
pub async fn find_trials(conn: &mut AnyConnection, text: &str) -> Result<Vec<InstallationRow>> {
    let prefix = format!(
        "{}%",
        text.trim()
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE n.trial_email IS NOT NULL AND l.type = 'trial' AND n.deactivated_at IS NULL \
         AND (lower(n.trial_email) LIKE $1 ESCAPE '\\' OR lower(n.hostname) LIKE $1 ESCAPE '\\') \
         ORDER BY n.id DESC LIMIT 50"
    )))
    .bind(prefix)
    .fetch_all(&mut *conn)
    .await?)
}

/// Ends an installation; false if it had ended already.
pub async fn deactivate(conn: &mut AnyConnection, id: InstallationId, now: Millis) -> Result<bool> {
    let r = sqlx::query("UPDATE installations SET deactivated_at = $2, updated_at = $2 WHERE id = $1 AND deactivated_at IS NULL")
        .bind(id.to_db())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Moves a (trial) installation onto another license.
pub async fn move_to_license(
    conn: &mut AnyConnection,
    id: InstallationId,
    license: LicenseId,
    now: Millis,
) -> Result<()> {
    sqlx::query("UPDATE installations SET license_id = $2, trial_email = NULL, updated_at = $3 WHERE id = $1")
        .bind(id.to_db())
        .bind(license.to_db())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE installations SET \
         customer_id = (SELECT l.customer_id FROM licenses l WHERE l.id = installations.license_id), \
         vendor_id = (SELECT c.vendor_id FROM licenses l JOIN customers c ON c.id = l.customer_id WHERE l.id = installations.license_id), \
         sort_name = (SELECT lower(c.name) FROM licenses l JOIN customers c ON c.id = l.customer_id WHERE l.id = installations.license_id), \
         health_base = {HEALTH_BASE} WHERE id = $1"
    )))
    .bind(id.to_db())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The stored part of an installation's health (see migration 0005): 4 last
/// run failed, 2 no report yet, 1 warnings or over the client limit, 0 fine.
pub(crate) const HEALTH_BASE: &str = "CASE WHEN last_backup_at IS NULL THEN 2 WHEN last_backup_status = 'failed' THEN 4 \
     WHEN last_backup_status = 'warning' OR storage_used_bytes > (SELECT CASE WHEN l.client_limit_gb > 0 \
       THEN l.client_limit_gb * 1000000000 ELSE storage_used_bytes END FROM licenses l WHERE l.id = installations.license_id) \
     THEN 1 ELSE 0 END";

/// After a license's client limit changed: its clients' stored health.
pub async fn refresh_health_for_license(
    conn: &mut AnyConnection,
    license: LicenseId,
) -> Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE installations SET health_base = {HEALTH_BASE} WHERE license_id = $1 AND deactivated_at IS NULL"
    )))
    .bind(license.to_db())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Closes a trial license (after its client moved onto a purchased one).
pub async fn close_license(
    conn: &mut AnyConnection,
    license: LicenseId,
    today: &str,
    now: Millis,
) -> Result<()> {
    sqlx::query("UPDATE licenses SET state = 'expired', valid_to = CASE WHEN created > $2 THEN created ELSE $2 END, updated_at = $3 WHERE id = $1")
        .bind(license.to_db())
        .bind(today)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// One report to store.
#[derive(Debug, Clone)]
pub struct NewReport {
    pub id: String,
    pub installation_id: InstallationId,
    pub started_at: Millis,
    pub finished_at: Millis,
    pub status: &'static str,
    pub bytes_total: i64,
    pub bytes_uploaded: i64,
    pub files_total: i64,
    pub files_changed: i64,
    pub message: String,
    pub snapshot_id: Option<String>,
    pub files_new: Option<i64>,
    pub simulated: bool,
    pub received_at: Millis,
}

/// Stores many reports and updates their installations' summaries (whose
/// cost does not grow with the history), inside the caller's transaction.
pub async fn insert_reports(conn: &mut AnyConnection, reports: &[NewReport]) -> Result<()> {
    insert_reports_with_events(conn, reports, &[]).await
}

/// [`insert_reports`], and queues the reports' webhook events (one
/// statement for the batch) in the same transaction.
pub async fn insert_reports_with_events(
    conn: &mut AnyConnection,
    reports: &[NewReport],
    events: &[super::webhooks::NewEvent],
) -> Result<()> {
    for (sql, param) in report_statements(conn, reports, events, false)? {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(param)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Stores a batch of reports in a transaction of its own. On SQLite the
/// whole transaction is one command (`BEGIN IMMEDIATE; …; COMMIT`): sqlx
/// runs each command on the connection's worker thread, and on a busy
/// machine every hop there and back waits for the scheduler, so five hops
/// per batch cost more than the writing. On PostgreSQL, statement by
/// statement. `events` (the reports' webhook events, when anyone wants
/// them) are queued in the same transaction by one more statement.
pub async fn store_report_batch(
    store: &super::Store,
    reports: &[NewReport],
    events: &[super::webhooks::NewEvent],
) -> Result<()> {
    if reports.is_empty() {
        return Ok(());
    }
    let mut c = store.write.acquire().await?;
    if super::is_postgres(&c) {
        let mut tx = sqlx::Acquire::begin(&mut *c).await?;
        insert_reports_with_events(&mut tx, reports, events).await?;
        tx.commit().await?;
        return Ok(());
    }
    let statements = report_statements(&c, reports, events, true)?;
    let sql: Vec<&str> = statements.iter().map(|(sql, _)| sql.as_str()).collect();
    let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
        "BEGIN IMMEDIATE; {}; COMMIT",
        sql.join("; ")
    )));
    for (_, param) in &statements {
        q = q.bind(param.as_str());
    }
    if let Err(e) = q.execute(&mut *c).await {
        // The transaction may be open still: roll it back, and let the
        // pool open a fresh connection next time rather than trust this one.
        let _ = sqlx::query("ROLLBACK").execute(&mut *c).await;
        c.close_on_drop();
        return Err(e.into());
    }
    Ok(())
}

/// Stores one report and updates its installation's summary.
pub async fn insert_report(conn: &mut AnyConnection, r: &NewReport) -> Result<()> {
    insert_reports(conn, std::slice::from_ref(r)).await
}

/// The summary columns after one report, as a SET clause over the report's
/// values (`received`, `finished`, `status`, `bytes`: SQL expressions). A
/// late report of an older run updates last-seen, not the last backup.
/// `health_base` is left to the last of [`report_statements`], which
/// writes it only where it changed: a SET that names an indexed column
/// rewrites that index's entry even when the value stays (SQLite), and the
/// two monitoring indexes would then cost every report two page writes.
fn summary_set(received: &str, finished: &str, status: &str, bytes: &str) -> String {
    let newer = format!("(last_backup_at IS NULL OR {finished} >= last_backup_at)");
    let new_status = format!("(CASE WHEN {newer} THEN {status} ELSE last_backup_status END)");
    // An installation whose repository the console keeps: storage used is
    // the count of stored bytes (store/repositories.rs), not the report's.
    let new_bytes = format!(
        "(CASE WHEN has_repository = 0 AND {newer} THEN {bytes} ELSE storage_used_bytes END)"
    );
    format!(
        "last_seen_at = {received}, updated_at = {received}, \
         last_backup_status = {new_status}, storage_used_bytes = {new_bytes}, \
         failed_in_row = CASE WHEN NOT {newer} THEN failed_in_row \
                              WHEN {status} = 'failed' THEN failed_in_row + 1 ELSE 0 END, \
         last_success_at = CASE WHEN {status} <> 'failed' AND (last_success_at IS NULL OR {finished} > last_success_at) \
                                THEN {finished} ELSE last_success_at END, \
         last_backup_at = CASE WHEN {newer} THEN {finished} ELSE last_backup_at END"
    )
}

/// The statements that store a batch of reports, each with its one JSON
/// parameter (`$1`, or `$1`, `$2`, … in order when `numbered`, for running
/// them as one command): the reports in one INSERT; the summaries of
/// installations with one report in the batch in one UPDATE … FROM, those
/// with several in later rounds, one report each in the order they came;
/// last, `health_base` where it changed; and the webhook events, if any.
fn report_statements(
    conn: &AnyConnection,
    reports: &[NewReport],
    events: &[super::webhooks::NewEvent],
    numbered: bool,
) -> Result<Vec<(String, String)>> {
    use super::JsonCol::{Int, Text};
    let mut out: Vec<(String, String)> = Vec::new();
    let param = |out: &Vec<(String, String)>| if numbered { out.len() + 1 } else { 1 };
    if reports.is_empty() {
        return Ok(out);
    }
    let rows: Vec<_> = reports
        .iter()
        .map(|r| {
            (
                &r.id,
                &r.installation_id,
                r.started_at,
                r.finished_at,
                r.status,
                r.bytes_total,
                r.bytes_uploaded,
                r.files_total,
                r.files_changed,
                &r.message,
                r.received_at,
                &r.snapshot_id,
                r.files_new,
                i64::from(r.simulated),
            )
        })
        .collect();
    let insert = super::json_insert(
        conn,
        "reports",
        param(&out),
        &[
            ("id", Text),
            ("installation_id", Text),
            ("started_at", Int),
            ("finished_at", Int),
            ("status", Text),
            ("bytes_total", Int),
            ("bytes_uploaded", Int),
            ("files_total", Int),
            ("files_changed", Int),
            ("message", Text),
            ("received_at", Int),
            ("snapshot_id", Text),
            ("files_new", Int),
            ("simulated", Int),
        ],
    );
    out.push((insert, super::json_param(&rows)?));

    // Round k holds each installation's k-th report of the batch.
    let mut seen: std::collections::HashMap<InstallationId, usize> = Default::default();
    let mut rounds: Vec<Vec<&NewReport>> = Vec::new();
    for r in reports {
        let k = seen.entry(r.installation_id).or_default();
        if rounds.len() <= *k {
            rounds.push(Vec::new());
        }
        rounds[*k].push(r);
        *k += 1;
    }
    let ids: Vec<String> = rounds[0]
        .iter()
        .map(|r| r.installation_id.to_db())
        .collect();
    for round in &rounds {
        let src = super::json_rows(
            conn,
            param(&out),
            "v",
            &[
                ("v_id", Text),
                ("v_received", Int),
                ("v_finished", Int),
                ("v_status", Text),
                ("v_bytes", Int),
            ],
        );
        let rows: Vec<_> = round
            .iter()
            .map(|r| {
                (
                    &r.installation_id,
                    r.received_at,
                    r.finished_at,
                    r.status,
                    r.bytes_total,
                )
            })
            .collect();
        out.push((
            format!(
                "UPDATE installations SET {} FROM {src} WHERE installations.id = v.v_id",
                summary_set("v.v_received", "v.v_finished", "v.v_status", "v.v_bytes")
            ),
            super::json_param(&rows)?,
        ));
    }
    out.push((
        format!(
            "UPDATE installations SET health_base = {HEALTH_BASE} \
             WHERE id IN ({}) AND health_base <> {HEALTH_BASE}",
            super::json_list(conn, param(&out))
        ),
        super::json_param(&ids)?,
    ));
    if !events.is_empty() {
        out.push((
            super::webhooks::emit_many_sql(conn, param(&out)),
            super::webhooks::events_param(events)?,
        ));
    }
    Ok(out)
}

/// Marks a client seen (policy fetches).
pub async fn touch(conn: &mut AnyConnection, id: InstallationId, now: Millis) -> Result<()> {
    sqlx::query("UPDATE installations SET last_seen_at = $2 WHERE id = $1")
        .bind(id.to_db())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// What the history of a client needs of one report.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RunRow {
    pub finished_at: i64,
    pub status: RunStatus,
    pub bytes_total: i64,
}

/// One installation's runs that finished at or after `since`, newest
/// first (the `reports_installation (installation_id, finished_at)`
/// index serves it), at most `limit` — a cap cuts the oldest, never
/// the latest days.
pub async fn runs_since(
    conn: &mut AnyConnection,
    id: InstallationId,
    since: Millis,
    limit: i64,
) -> Result<Vec<RunRow>> {
    Ok(sqlx::query_as(
        "SELECT finished_at, status, bytes_total FROM reports \
         WHERE installation_id = $1 AND finished_at >= $2 ORDER BY finished_at DESC LIMIT $3",
    )
    .bind(id.to_db())
    .bind(since)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// A backup run that made a snapshot, as its client reported it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SnapshotRow {
    pub snapshot_id: String,
    pub started_at: i64,
    pub finished_at: i64,
    pub status: RunStatus,
    pub files_total: i64,
    pub files_new: Option<i64>,
    pub files_changed: i64,
    pub bytes_total: i64,
    pub bytes_uploaded: i64,
}

/// The installation's latest reported snapshots, newest first.
pub async fn snapshots(
    conn: &mut AnyConnection,
    id: InstallationId,
    limit: i64,
) -> Result<Vec<SnapshotRow>> {
    Ok(sqlx::query_as(
        "SELECT snapshot_id, started_at, finished_at, status, files_total, files_new, files_changed, \
         bytes_total, bytes_uploaded FROM reports \
         WHERE installation_id = $1 AND snapshot_id IS NOT NULL ORDER BY finished_at DESC LIMIT $2",
    )
    .bind(id.to_db())
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// Deletes up to `limit` reports whose id sorts before `id_bound` (ids
/// are UUIDv7 made at receipt, so: received before the bound's time). A
/// range on the primary key; the installations' summaries are columns of
/// `installations` and do not change. Returns how many were deleted.
pub async fn delete_reports_before(
    conn: &mut AnyConnection,
    id_bound: &str,
    limit: i64,
) -> Result<u64> {
    let r = sqlx::query(
        "DELETE FROM reports WHERE id IN (SELECT id FROM reports WHERE id < $1 ORDER BY id LIMIT $2)",
    )
    .bind(id_bound)
    .bind(limit)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected())
}

/// Deactivates the installation an activation replaces, keeping its seat
/// for the new installation (no seat is released); false when it is no
/// longer live (another transaction deactivated it since the read).
pub async fn retire_replaced(conn: &mut AnyConnection, old: &str, now: Millis) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE installations SET deactivated_at = $2, updated_at = $2 \
         WHERE id = $1 AND deactivated_at IS NULL",
    )
    .bind(old)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Undoes [`retire_replaced`] in the same transaction (the activation lost
/// its invite to another instance after all).
pub async fn unretire_replaced(conn: &mut AnyConnection, old: &str) -> Result<()> {
    sqlx::query("UPDATE installations SET deactivated_at = NULL WHERE id = $1")
        .bind(old)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Hands the replaced installation's repository and its byte counts to
/// the new installation (both on the same license, so the license's count
/// stays): the new one continues the same history; the old one keeps no
/// repository and names its successor.
pub async fn hand_over(conn: &mut AnyConnection, old: &str, new: InstallationId) -> Result<()> {
    sqlx::query(
        "UPDATE installations SET \
           repository_id = (SELECT COALESCE(o.repository_id, o.id) FROM installations o WHERE o.id = $1), \
           repo_bytes = (SELECT o.repo_bytes FROM installations o WHERE o.id = $1), \
           has_repository = (SELECT o.has_repository FROM installations o WHERE o.id = $1), \
           storage_used_bytes = (SELECT o.storage_used_bytes FROM installations o WHERE o.id = $1) \
         WHERE id = $2 AND EXISTS (SELECT 1 FROM installations o WHERE o.id = $1 AND o.replaced_by IS NULL)",
    )
    .bind(old)
    .bind(new.to_db())
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE installations SET repo_bytes = 0, has_repository = 0, storage_used_bytes = 0, \
         replaced_by = $2 WHERE id = $1 AND replaced_by IS NULL",
    )
    .bind(old)
    .bind(new.to_db())
    .execute(&mut *conn)
    .await?;
    Ok(())
}
