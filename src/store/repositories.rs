//! The byte counts of the installations' restic repositories (migration
//! 0006). Reserving is a guarded UPDATE on the installation and one on its
//! license, in the caller's transaction: two uploads cannot both pass a
//! limit, whichever instance or backend runs them.

use sqlx::AnyConnection;

use super::Result;
use crate::domain::{InstallationId, LicenseId};

/// What deciding an upload needs, read fresh (not from the token cache).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SpaceRow {
    #[sqlx(try_from = "String")]
    pub license_id: LicenseId,
    pub standard_seats: i64,
    pub server_seats: i64,
    pub extra_space_gb: i64,
    pub client_limit_gb: i64,
    /// The installation's bytes stored and reserved.
    pub installation_bytes: i64,
    /// The license's bytes stored and reserved.
    pub license_bytes: i64,
}

pub async fn space(conn: &mut AnyConnection, id: InstallationId) -> Result<Option<SpaceRow>> {
    Ok(sqlx::query_as(
        "SELECT n.license_id, l.standard_seats, l.server_seats, l.extra_space_gb, l.client_limit_gb, \
         n.repo_bytes AS installation_bytes, l.repo_bytes AS license_bytes \
         FROM installations n JOIN licenses l ON l.id = n.license_id WHERE n.id = $1 AND n.deactivated_at IS NULL",
    )
    .bind(id.to_db())
    .fetch_optional(&mut *conn)
    .await?)
}

/// Marks that the installation has a repository: from now on its
/// `storage_used_bytes` is the count of stored bytes (nothing is stored
/// before the first upload, so a report's figure gives way to 0).
pub async fn mark_created(conn: &mut AnyConnection, id: InstallationId) -> Result<()> {
    sqlx::query(
        "UPDATE installations SET has_repository = 1, storage_used_bytes = repo_bytes \
         WHERE id = $1 AND has_repository = 0",
    )
    .bind(id.to_db())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Reserves `n` bytes on the installation if it stays within
/// `limit` bytes (`limit <= 0`: no client limit).
pub async fn reserve_installation(
    conn: &mut AnyConnection,
    id: InstallationId,
    n: i64,
    limit: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE installations SET repo_bytes = repo_bytes + $2 \
         WHERE id = $1 AND ($3 <= 0 OR repo_bytes + $2 <= $3)",
    )
    .bind(id.to_db())
    .bind(n)
    .bind(limit)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Reserves `n` bytes on the license if it stays within `total` bytes.
pub async fn reserve_license(
    conn: &mut AnyConnection,
    license: LicenseId,
    n: i64,
    total: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE licenses SET repo_bytes = repo_bytes + $2 WHERE id = $1 AND repo_bytes + $2 <= $3",
    )
    .bind(license.to_db())
    .bind(n)
    .bind(total)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Gives back `n` reserved or stored bytes (an upload that failed, a file
/// deleted), on the installation and on the license it is on now.
pub async fn release(conn: &mut AnyConnection, id: InstallationId, n: i64) -> Result<()> {
    sqlx::query("UPDATE installations SET repo_bytes = repo_bytes - $2 WHERE id = $1")
        .bind(id.to_db())
        .bind(n)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE licenses SET repo_bytes = repo_bytes - $2 \
         WHERE id = (SELECT license_id FROM installations WHERE id = $1)",
    )
    .bind(id.to_db())
    .bind(n)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The repository was deleted by an operator: nothing stored any more,
/// its bytes given back to the license.
pub async fn forget(conn: &mut AnyConnection, id: InstallationId) -> Result<()> {
    sqlx::query(
        "UPDATE licenses SET repo_bytes = repo_bytes - \
           (SELECT repo_bytes FROM installations WHERE id = $1) \
         WHERE id = (SELECT license_id FROM installations WHERE id = $1)",
    )
    .bind(id.to_db())
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE installations SET repo_bytes = 0, storage_used_bytes = 0, has_repository = 0 \
         WHERE id = $1",
    )
    .bind(id.to_db())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// `delta` bytes were stored (positive) or removed (negative): the figure
/// every view shows as storage used, and the health that depends on it.
pub async fn stored(conn: &mut AnyConnection, id: InstallationId, delta: i64) -> Result<()> {
    sqlx::query(
        "UPDATE installations SET storage_used_bytes = storage_used_bytes + $2, has_repository = 1 \
         WHERE id = $1",
    )
    .bind(id.to_db())
    .bind(delta)
    .execute(&mut *conn)
    .await?;
    let health = super::installations::HEALTH_BASE;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE installations SET health_base = {health} \
         WHERE id = $1 AND health_base <> {health}"
    )))
    .bind(id.to_db())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// An installation moved to another license (a trial connected to a
/// purchase): its bytes move along.
pub async fn move_license(
    conn: &mut AnyConnection,
    id: InstallationId,
    from: LicenseId,
    to: LicenseId,
) -> Result<()> {
    for (license, sign) in [(from, -1i64), (to, 1)] {
        sqlx::query(
            "UPDATE licenses SET repo_bytes = repo_bytes + $2 * \
             (SELECT repo_bytes FROM installations WHERE id = $3) WHERE id = $1",
        )
        .bind(license.to_db())
        .bind(sign)
        .bind(id.to_db())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// An installation that holds (or held) repository bytes.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HolderRow {
    #[sqlx(try_from = "String")]
    pub id: InstallationId,
    pub repository_id: Option<String>,
    pub repo_bytes: i64,
    pub storage_used_bytes: i64,
}

/// Installations with a repository (the replaced ones hold none: theirs
/// went to their successor).
pub async fn holders(conn: &mut AnyConnection) -> Result<Vec<HolderRow>> {
    Ok(sqlx::query_as(
        "SELECT id, repository_id, repo_bytes, storage_used_bytes FROM installations \
         WHERE (has_repository = 1 OR repo_bytes <> 0) AND replaced_by IS NULL",
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// Sets an installation's counts to the bytes its repository holds.
pub async fn set_counts(conn: &mut AnyConnection, id: InstallationId, bytes: i64) -> Result<()> {
    sqlx::query("UPDATE installations SET repo_bytes = $2, storage_used_bytes = $2 WHERE id = $1")
        .bind(id.to_db())
        .bind(bytes)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Every license's count is the sum of its installations'.
pub async fn recount_licenses(conn: &mut AnyConnection) -> Result<()> {
    sqlx::query(
        "UPDATE licenses SET repo_bytes = \
         (SELECT COALESCE(SUM(n.repo_bytes), 0) FROM installations n WHERE n.license_id = licenses.id) \
         WHERE repo_bytes <> \
         (SELECT COALESCE(SUM(n.repo_bytes), 0) FROM installations n WHERE n.license_id = licenses.id)",
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}
