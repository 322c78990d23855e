//! Invites and their delivery state.

use sqlx::AnyConnection;

use super::Result;
use super::installations::InstallationRow;
use crate::domain::activation;
use crate::domain::invite::{DeliveryState, SoftwareType};
use crate::domain::license::Seats;
use crate::domain::{CustomerId, InstallationId, InviteId, LicenseId, Millis, VendorId};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InviteRow {
    pub id: InviteId,
    pub license_id: LicenseId,
    pub customer_id: CustomerId,
    pub customer_name: String,
    pub customer_language: String,
    pub encryption_key_enc: Option<String>,
    pub vendor_id: VendorId,
    pub vendor_name: String,
    pub username: String,
    pub email: String,
    pub software_type: SoftwareType,
    pub store_deleted_days: i64,
    pub code_enc: String,
    pub code_hash: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub sent_at: Option<i64>,
    pub delivery_state: DeliveryState,
    pub delivery_error: Option<String>,
    pub next_attempt_at: Option<i64>,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// The installation this invite's activation replaces (same license).
    pub replaces_installation_id: Option<String>,
}

macro_rules! invite_columns {
    () => {
        "SELECT i.id, i.license_id, c.id AS customer_id, c.name AS customer_name, \
         c.language AS customer_language, c.encryption_key_enc, c.vendor_id, v.name AS vendor_name, i.username, i.email, \
         i.software_type, i.store_deleted_days, i.code_enc, i.code_hash, i.created_at, i.expires_at, i.sent_at, \
         i.delivery_state, i.delivery_error, i.next_attempt_at, i.used_at, i.revoked_at, i.replaces_installation_id"
    };
}

macro_rules! invite_from {
    () => {
        " FROM invites i JOIN licenses l ON l.id = i.license_id JOIN customers c ON c.id = l.customer_id \
         JOIN vendors v ON v.id = c.vendor_id"
    };
}

const SELECT: &str = concat!(invite_columns!(), invite_from!());

/// An invite with the terms of its license, as an activation reads them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ActivationRow {
    #[sqlx(flatten)]
    pub invite: InviteRow,
    #[sqlx(flatten)]
    pub license: super::licenses::LicenseTerms,
    /// 1 when the invite replaces an installation that is live on the
    /// same license with the same software type: the new one takes over
    /// its seat instead of a free one.
    pub replaces_live: i64,
}

impl ActivationRow {
    /// What the activation rule needs of this invite and its license.
    /// (It cannot fail any more — the row decoded typed — but keeps its
    /// `Result` while the activation writer, another room's code, calls it
    /// that way.)
    pub fn terms(&self) -> Result<(activation::InviteTerms, activation::LicenseTerms)> {
        let l = &self.license;
        Ok((
            activation::InviteTerms {
                id: self.invite.id,
                username: self.invite.username.clone(),
                code_hash: self.invite.code_hash.clone(),
                used: self.invite.used_at.is_some(),
                expires_at: self.invite.expires_at,
                software_type: self.invite.software_type,
                license_id: self.invite.license_id,
                inherits_seat: self.replaces_live > 0,
            },
            activation::LicenseTerms {
                id: l.id,
                state: l.state,
                valid_to: l.valid_to.0,
                standard: Seats {
                    seats: l.standard_seats,
                    used: l.standard_used,
                },
                server: Seats {
                    seats: l.server_seats,
                    used: l.server_used,
                },
            },
        ))
    }

    /// The installation an activation with this invite makes, as it would
    /// be read back (the answer is built from what the batch read).
    pub fn installation(
        &self,
        id: InstallationId,
        username: &str,
        hostname: &str,
        os: &str,
        client_version: &str,
        now: Millis,
    ) -> Result<InstallationRow> {
        let (invite, license) = self.terms()?;
        Ok(InstallationRow {
            id,
            license_id: invite.license_id,
            license_type: self.license.r#type,
            license_state: license.state,
            valid_to: self.license.valid_to.to_string(),
            standard_seats: self.license.standard_seats,
            server_seats: self.license.server_seats,
            extra_space_gb: self.license.extra_space_gb,
            client_limit_gb: self.license.client_limit_gb,
            customer_id: self.invite.customer_id,
            customer_name: self.invite.customer_name.clone(),
            encryption_key_enc: self.invite.encryption_key_enc.clone(),
            vendor_id: self.invite.vendor_id,
            invite_id: Some(self.invite.id.to_db()),
            username: username.to_string(),
            software_type: invite.software_type,
            hostname: hostname.to_string(),
            os: os.to_string(),
            client_version: client_version.to_string(),
            store_deleted_days: self.invite.store_deleted_days,
            trial_email: None,
            activated_at: now,
            deactivated_at: None,
            last_seen_at: Some(now),
            last_backup_at: None,
            last_backup_status: None,
            last_success_at: None,
            failed_in_row: 0,
            storage_used_bytes: 0,
            repository_id: None,
            replaced_by: None,
        })
    }
}

pub struct NewInviteRow<'a> {
    pub id: InviteId,
    pub license_id: LicenseId,
    pub username: &'a str,
    pub email: &'a str,
    pub software_type: &'a str,
    pub store_deleted_days: i64,
    pub code_enc: &'a str,
    pub code_hash: &'a str,
    pub expires_at: Millis,
    pub replaces: Option<InstallationId>,
}

pub async fn insert(conn: &mut AnyConnection, r: &NewInviteRow<'_>, now: Millis) -> Result<()> {
    sqlx::query(
        "INSERT INTO invites (id, license_id, username, email, software_type, store_deleted_days, code_enc, \
         code_hash, created_at, expires_at, replaces_installation_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(r.id.to_db())
    .bind(r.license_id.to_db())
    .bind(r.username)
    .bind(r.email)
    .bind(r.software_type)
    .bind(r.store_deleted_days)
    .bind(r.code_enc)
    .bind(r.code_hash)
    .bind(now)
    .bind(r.expires_at)
    .bind(r.replaces.map(|id| id.to_db()))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn get(conn: &mut AnyConnection, id: InviteId) -> Result<Option<InviteRow>> {
    Ok(
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE i.id = $1")))
            .bind(id.to_db())
            .fetch_optional(&mut *conn)
            .await?,
    )
}

/// Several invites by id in one query (the ids go as one JSON parameter,
/// so any number fits one statement).
pub async fn get_many(conn: &mut AnyConnection, ids: &[InviteId]) -> Result<Vec<InviteRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = ids.iter().map(|i| i.to_db()).collect();
    let sql = format!("{SELECT} WHERE i.id IN ({})", super::json_list(conn, 1));
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(super::json_param(&ids)?)
        .fetch_all(&mut *conn)
        .await?)
}

/// Sets several invites to `queued` (their messages were just written to
/// the outbox), clearing the last error and retry time, in one statement.
pub async fn set_queued_many(conn: &mut AnyConnection, ids: &[InviteId]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = ids.iter().map(|i| i.to_db()).collect();
    let sql = format!(
        "UPDATE invites SET delivery_state = $2, delivery_error = NULL, next_attempt_at = NULL \
         WHERE id IN ({})",
        super::json_list(conn, 1)
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(super::json_param(&ids)?)
        .bind(DeliveryState::Queued.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Sets several invites to `sent` at `now` (their messages were accepted),
/// in one statement.
pub async fn set_sent_many(conn: &mut AnyConnection, ids: &[InviteId], now: Millis) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = ids.iter().map(|i| i.to_db()).collect();
    let sql = format!(
        "UPDATE invites SET delivery_state = $2, delivery_error = NULL, next_attempt_at = NULL, \
         sent_at = $3 WHERE id IN ({})",
        super::json_list(conn, 1)
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(super::json_param(&ids)?)
        .bind(DeliveryState::Sent.as_str())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The live (not revoked) invites with these usernames and their licenses'
/// terms, in one query.
pub async fn find_for_activation(
    conn: &mut AnyConnection,
    usernames: &[&str],
) -> Result<Vec<ActivationRow>> {
    if usernames.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "{}, {}, (SELECT COUNT(*) FROM installations o WHERE o.id = i.replaces_installation_id \
         AND o.deactivated_at IS NULL AND o.license_id = i.license_id \
         AND o.software_type = i.software_type) AS replaces_live{} \
         WHERE i.username IN ({}) AND i.revoked_at IS NULL",
        invite_columns!(),
        super::licenses::TERMS_COLUMNS,
        invite_from!(),
        super::json_list(conn, 1)
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(super::json_param(&usernames)?)
        .fetch_all(&mut *conn)
        .await?)
}

/// A license's invites, newest first (revoked ones too, marked).
pub async fn list_for_license(
    conn: &mut AnyConnection,
    license: LicenseId,
) -> Result<Vec<InviteRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE i.license_id = $1 ORDER BY i.id DESC"
    )))
    .bind(license.to_db())
    .fetch_all(&mut *conn)
    .await?)
}

/// One page of invites for an export, in id order: one vendor's or all,
/// after the id `after` (keyset pagination).
pub async fn export_page(
    conn: &mut AnyConnection,
    vendor: Option<VendorId>,
    after: Option<InviteId>,
    limit: i64,
) -> Result<Vec<InviteRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE ($1 IS NULL OR c.vendor_id = $1) AND ($2 IS NULL OR i.id > $2) ORDER BY i.id LIMIT $3"
    )))
    .bind(vendor.map(|v| v.to_db()))
    .bind(after.map(|a| a.to_db()))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// Invites for the Installations page: one customer's, or all of a
/// vendor's (or everyone's), not revoked, not used; sent ones only if
/// asked. At most `limit`, newest first.
pub async fn list_for_sending(
    conn: &mut AnyConnection,
    vendor: Option<VendorId>,
    customer: Option<CustomerId>,
    include_sent: bool,
    limit: i64,
) -> Result<Vec<InviteRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE ($1 IS NULL OR c.vendor_id = $1) AND ($2 IS NULL OR c.id = $2) \
         AND i.revoked_at IS NULL AND i.used_at IS NULL AND ($3 = 1 OR i.sent_at IS NULL) \
         ORDER BY c.name, i.id DESC LIMIT $4"
    )))
    .bind(vendor.map(|v| v.to_db()))
    .bind(customer.map(|c| c.to_db()))
    .bind(super::b(include_sent))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// Outstanding (unused, not revoked) invites of a license per software
/// type: (standard, server).
pub async fn outstanding(conn: &mut AnyConnection, license: LicenseId) -> Result<(i64, i64)> {
    let row: (i64, i64) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(CASE WHEN software_type = 'standard' THEN 1 ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN software_type = 'server' THEN 1 ELSE 0 END), 0) AS BIGINT) \
         FROM invites WHERE license_id = $1 AND used_at IS NULL AND revoked_at IS NULL",
    )
    .bind(license.to_db())
    .fetch_one(&mut *conn)
    .await?;
    Ok(row)
}

/// Revokes an unused invite; false if it was used or already revoked.
pub async fn revoke(conn: &mut AnyConnection, id: InviteId, now: Millis) -> Result<bool> {
    let r = sqlx::query("UPDATE invites SET revoked_at = $2 WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL")
        .bind(id.to_db())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Sets the delivery state shown to operators.
pub async fn set_delivery(
    conn: &mut AnyConnection,
    id: InviteId,
    state: DeliveryState,
    error: Option<&str>,
    next_attempt_at: Option<Millis>,
    sent_at: Option<Millis>,
) -> Result<()> {
    sqlx::query(
        "UPDATE invites SET delivery_state = $2, delivery_error = $3, next_attempt_at = $4, \
         sent_at = COALESCE($5, sent_at) WHERE id = $1",
    )
    .bind(id.to_db())
    .bind(state.as_str())
    .bind(error)
    .bind(next_attempt_at)
    .bind(sent_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Which of these usernames a live (not revoked) invite holds already.
pub async fn usernames_taken(
    conn: &mut AnyConnection,
    usernames: &[String],
) -> Result<std::collections::HashSet<String>> {
    let list = super::json_list(conn, 1);
    let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT username FROM invites WHERE revoked_at IS NULL AND username IN ({list})"
    )))
    .bind(super::json_param(&usernames)?)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Inserts many invites with one statement per 1,000 (an import): the
/// rows go as one JSON parameter.
pub async fn insert_many(
    conn: &mut AnyConnection,
    rows: &[NewInviteRow<'_>],
    now: Millis,
) -> Result<()> {
    use super::JsonCol::{Int, Text};
    for chunk in rows.chunks(1_000) {
        let values: Vec<_> = chunk
            .iter()
            .map(|r| {
                (
                    r.id.to_db(),
                    r.license_id.to_db(),
                    r.username,
                    r.email,
                    r.software_type,
                    r.store_deleted_days,
                    r.code_enc,
                    r.code_hash,
                    now,
                    r.expires_at,
                )
            })
            .collect();
        let sql = super::json_insert(
            conn,
            "invites",
            1,
            &[
                ("id", Text),
                ("license_id", Text),
                ("username", Text),
                ("email", Text),
                ("software_type", Text),
                ("store_deleted_days", Int),
                ("code_enc", Text),
                ("code_hash", Text),
                ("created_at", Int),
                ("expires_at", Int),
            ],
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(super::json_param(&values)?)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
