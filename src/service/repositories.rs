//! Each installation's restic repository, served to its client over
//! restic's REST protocol (`repo/`): who may use it, how much it may hold
//! (Client limit, Total space), the exact count of bytes stored, and what a
//! client may never delete. The disk is `repository_files`.

use axum::body::{Bytes, HttpBody};
use subtle::ConstantTimeEq;

use super::Services;
use super::repository_files::{RepoDir, WriteError, Written};
use crate::domain::InstallationId;
use crate::domain::license as lic;
use crate::domain::repository::{FileKind, RepoFile, snapshot_deletable};
use crate::service::clients::ClientSession;
use crate::store::{self, StoreError, installations::InstallationRow};

/// Why a repository request was refused; `repo/` maps it to HTTP.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// No or wrong credentials, or a deactivated installation (401).
    #[error("unauthorized")]
    Unauthorized,
    /// Not there — or another installation's (404).
    #[error("not found")]
    NotFound,
    /// A name that is not a file name, or a body that is not what it says (400).
    #[error("{0}")]
    BadRequest(String),
    /// A client may not do this (403): `code` is `forbidden` or
    /// `retention_protected`.
    #[error("{detail}")]
    Forbidden { code: &'static str, detail: String },
    /// The upload would pass a limit (507): `client_limit_exceeded` or
    /// `total_space_exceeded`.
    #[error("{detail}")]
    NoSpace { code: &'static str, detail: String },
    #[error("internal error: {0}")]
    Internal(#[from] anyhow::Error),
}

impl From<StoreError> for RepoError {
    fn from(e: StoreError) -> Self {
        RepoError::Internal(anyhow::Error::new(e))
    }
}

impl From<sqlx::Error> for RepoError {
    fn from(e: sqlx::Error) -> Self {
        RepoError::from(StoreError::from(e))
    }
}

impl From<std::io::Error> for RepoError {
    fn from(e: std::io::Error) -> Self {
        RepoError::Internal(anyhow::Error::new(e))
    }
}

impl From<super::ServiceError> for RepoError {
    fn from(e: super::ServiceError) -> Self {
        RepoError::Internal(anyhow::Error::new(e))
    }
}

type Result<T> = std::result::Result<T, RepoError>;

/// A file that may be listed or fetched.
pub struct RepoEntry {
    pub name: String,
    pub size: u64,
}

impl Services {
    fn repo_dir(&self, id: InstallationId) -> RepoDir {
        RepoDir::new(&self.config.repository_dir, id)
    }

    /// The installation a repository request acts for: HTTP Basic with the
    /// installation id as user and the client token as password, and the
    /// id in the path must be the token's installation (another one is
    /// "not found", never "forbidden").
    pub async fn repo_client(
        &self,
        user: &str,
        password: &str,
        path_id: &str,
    ) -> Result<ClientSession> {
        let n = self
            .client_by_token(password)
            .await?
            .ok_or(RepoError::Unauthorized)?;
        let own = n.id.to_db();
        if !bool::from(
            own.as_bytes()
                .ct_eq(user.trim().to_ascii_lowercase().as_bytes()),
        ) {
            return Err(RepoError::Unauthorized);
        }
        match path_id.parse::<InstallationId>() {
            Ok(id) if id == n.id => Ok(n),
            _ => Err(RepoError::NotFound),
        }
    }

    /// Creates the repository's folders (idempotent); from now on the
    /// bytes stored are the installation's storage used.
    pub async fn repo_create(&self, n: &InstallationRow) -> Result<()> {
        self.repo_dir(n.repository()).create().await?;
        let mut tx = self.store.begin().await?;
        store::repositories::mark_created(&mut tx, n.id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks that an installation has a repository (one written outside
    /// the REST face, as the demo does).
    pub async fn mark_repository_created(&self, id: InstallationId) -> anyhow::Result<()> {
        let mut tx = self.store.begin().await?;
        store::repositories::mark_created(&mut tx, id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A file's size, if it is there.
    pub async fn repo_stat(&self, n: &InstallationRow, f: &RepoFile) -> Result<u64> {
        let m = self.repo_dir(n.repository()).stat(f).await?;
        m.map(|m| m.len()).ok_or(RepoError::NotFound)
    }

    /// A file to read, with its size.
    pub async fn repo_open(
        &self,
        n: &InstallationRow,
        f: &RepoFile,
    ) -> Result<(tokio::fs::File, u64)> {
        self.repo_dir(n.repository())
            .open(f)
            .await?
            .ok_or(RepoError::NotFound)
    }

    /// The files of one kind.
    pub async fn repo_list(&self, n: &InstallationRow, kind: FileKind) -> Result<Vec<RepoEntry>> {
        let files = self
            .repo_dir(n.repository())
            .list(kind)
            .await?
            .ok_or(RepoError::NotFound)?;
        Ok(files
            .into_iter()
            .map(|(name, size)| RepoEntry { name, size })
            .collect())
    }

    /// Stores an upload (of `len` bytes when the client said). The bytes
    /// are reserved against the Client limit and the license's Total
    /// space before the file gets its name, and given back if the write
    /// fails; a file is never replaced.
    pub async fn repo_upload<B>(
        &self,
        n: &InstallationRow,
        f: &RepoFile,
        len: Option<u64>,
        body: B,
    ) -> Result<()>
    where
        B: HttpBody<Data = Bytes> + Unpin,
        B::Error: std::fmt::Display,
    {
        // With a Content-Length the bytes are reserved before anything is
        // read; without one (chunked, as rustic sends) after the body is
        // staged, before it gets its name. Either way the limits hold.
        let known = len
            .map(|l| {
                i64::try_from(l)
                    .map_err(|_| RepoError::BadRequest("Content-Length is too large.".into()))
            })
            .transpose()?;
        let dir = self.repo_dir(n.repository());
        if !dir.exists().await? {
            return Err(RepoError::NotFound);
        }
        // A named file's content is its name: one already there is this
        // very upload (a retry). The config has no such name: it stays.
        if dir.stat(f).await?.is_some() {
            return match f {
                RepoFile::Config => Err(config_stays()),
                RepoFile::Named(..) => Ok(()),
            };
        }
        if let Some(size) = known {
            self.reserve(n.id, size).await?;
        }
        let verify = matches!(f, RepoFile::Named(..));
        let staged = match dir.stage(f, len, body, verify).await {
            Ok(s) => s,
            Err(e) => {
                if let Some(size) = known {
                    self.give_back(n.id, size).await?;
                }
                return Err(write_error(e));
            }
        };
        let size = i64::try_from(staged.size).unwrap_or(i64::MAX);
        if known.is_none()
            && let Err(e) = self.reserve(n.id, size).await
        {
            staged.discard().await;
            return Err(e);
        }
        match staged.publish().await {
            Ok(Written::Stored) => {
                let mut tx = self.store.begin().await?;
                store::repositories::stored(&mut tx, n.id, size).await?;
                tx.commit().await?;
                Ok(())
            }
            Ok(Written::Exists) => {
                self.give_back(n.id, size).await?;
                match f {
                    RepoFile::Config => Err(config_stays()),
                    RepoFile::Named(..) => Ok(()),
                }
            }
            Err(e) => {
                self.give_back(n.id, size).await?;
                Err(write_error(e))
            }
        }
    }

    /// Takes `size` bytes of the installation's and the license's space,
    /// or refuses naming the limit.
    async fn reserve(&self, id: InstallationId, size: i64) -> Result<()> {
        let mut tx = self.store.begin().await?;
        // A deactivated (or replaced) installation stores nothing more,
        // whatever an instance's token cache still says.
        let s = store::repositories::space(&mut tx, id)
            .await?
            .ok_or(RepoError::Unauthorized)?;
        let client_limit = s.client_limit_gb.saturating_mul(1_000_000_000);
        if !store::repositories::reserve_installation(&mut tx, id, size, client_limit).await? {
            return Err(RepoError::NoSpace {
                code: "client_limit_exceeded",
                detail: format!(
                    "Storing {size} more bytes would bring this installation to {} bytes; \
                     its client limit is {client_limit} bytes.",
                    s.installation_bytes.saturating_add(size)
                ),
            });
        }
        let total = lic::total_space_gb(
            self.seat_space(),
            s.standard_seats,
            s.server_seats,
            s.extra_space_gb,
        )
        .saturating_mul(1_000_000_000);
        if !store::repositories::reserve_license(&mut tx, s.license_id, size, total).await? {
            return Err(RepoError::NoSpace {
                code: "total_space_exceeded",
                detail: format!(
                    "Storing {size} more bytes would bring the license's installations to {} bytes; \
                     its total space is {total} bytes.",
                    s.license_bytes.saturating_add(size)
                ),
            });
        }
        tx.commit().await?;
        Ok(())
    }

    async fn give_back(&self, id: InstallationId, size: i64) -> Result<()> {
        let mut tx = self.store.begin().await?;
        store::repositories::release(&mut tx, id, size).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes a file. Config and keys stay whatever the client says, and
    /// a snapshot younger than the installation's Store deleted days (by
    /// the time the server stored it) too: a stolen token cannot erase the
    /// history.
    pub async fn repo_delete(&self, n: &InstallationRow, f: &RepoFile) -> Result<()> {
        if f.is_permanent() {
            return Err(RepoError::Forbidden {
                code: "forbidden",
                detail: "A client cannot delete the repository's config or keys.".into(),
            });
        }
        let dir = self.repo_dir(n.repository());
        if let RepoFile::Named(FileKind::Snapshots, _) = f {
            let m = dir.stat(f).await?.ok_or(RepoError::NotFound)?;
            let age = m
                .modified()
                .ok()
                .and_then(|t| t.elapsed().ok())
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let days = self.fresh_store_deleted_days(n).await?;
            if !snapshot_deletable(age, days) {
                return Err(RepoError::Forbidden {
                    code: "retention_protected",
                    detail: format!(
                        "This snapshot was stored {} days ago; snapshots are kept {days} days.",
                        age / 86_400
                    ),
                });
            }
        }
        let size = dir.remove(f).await?.ok_or(RepoError::NotFound)?;
        let size = i64::try_from(size).unwrap_or(i64::MAX);
        let mut tx = self.store.begin().await?;
        store::repositories::release(&mut tx, n.id, size).await?;
        store::repositories::stored(&mut tx, n.id, -size).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Store deleted days as it is now (the token's row may be a few
    /// seconds old; a raised value must protect at once).
    async fn fresh_store_deleted_days(&self, n: &InstallationRow) -> Result<i64> {
        let mut c = self.store.read().await?;
        let row = store::installations::get(&mut c, n.id).await?;
        Ok(row.map_or(n.store_deleted_days, |r| r.store_deleted_days))
    }
}

fn config_stays() -> RepoError {
    RepoError::Forbidden {
        code: "forbidden",
        detail: "The repository's config is never replaced.".into(),
    }
}

fn write_error(e: WriteError) -> RepoError {
    match e {
        WriteError::Mismatch => RepoError::BadRequest(
            "The content's SHA-256 is not the file's name; nothing was stored.".into(),
        ),
        WriteError::Short { .. } | WriteError::Long | WriteError::Body(_) => {
            RepoError::BadRequest(format!("{e}; nothing was stored."))
        }
        WriteError::Io(e) => RepoError::Internal(anyhow::Error::new(e)),
    }
}

impl Services {
    /// An operator deletes a deactivated installation's backups for good,
    /// confirming with the computer's name; audited. The repository is
    /// first moved aside (one rename), the counts given back in a
    /// transaction, then the files removed: a failure never leaves counts
    /// without files or files a client could still reach.
    pub async fn delete_backup_data(
        &self,
        actor: &super::Actor,
        id: InstallationId,
        confirm_hostname: &str,
    ) -> super::Result<super::clients::Installation> {
        use super::ServiceError;
        actor.require_write()?;
        let now = crate::domain::now_millis();
        let n = {
            let mut c = self.store.read().await?;
            super::clients::visible_installation(&mut c, actor, id).await?
        };
        if n.deactivated_at.is_none() {
            return Err(ServiceError::conflict(
                crate::domain::Conflict::InstallationActive,
            ));
        }
        if n.replaced_by.is_some() {
            return Err(ServiceError::conflict(
                crate::domain::Conflict::InstallationReplaced,
            ));
        }
        if confirm_hostname.trim() != n.hostname {
            return Err(ServiceError::invalid(
                "confirm_hostname",
                "error.confirm_hostname",
            ));
        }
        let dir = self.repo_dir(n.repository());
        let aside = dir
            .set_aside()
            .await
            .map_err(|e| anyhow::anyhow!("moving the repository aside: {e}"))?;
        let recorded = async {
            let mut tx = self.store.begin().await?;
            store::repositories::forget(&mut tx, id).await?;
            super::audit(
                &mut tx,
                actor,
                now,
                Some(n.vendor_id),
                "installation.delete_backup_data",
                "installation",
                Some(id.to_db()),
                Some(serde_json::json!({"storage_used_bytes": n.storage_used_bytes, "hostname": n.hostname})),
                Some(serde_json::json!({"storage_used_bytes": 0})),
            )
            .await?;
            tx.commit().await.map_err(StoreError::from)?;
            Ok::<(), ServiceError>(())
        }
        .await;
        if let Err(e) = recorded {
            if let Some(aside) = &aside
                && let Err(back) = dir.restore_from(aside).await
            {
                tracing::error!(error = %back, "could not put a repository back after a failed deletion");
            }
            return Err(e);
        }
        if let Some(aside) = aside
            && let Err(e) = tokio::fs::remove_dir_all(&aside).await
        {
            tracing::warn!(error = %e, path = %aside.display(), "a deleted repository's files remain");
        }
        self.get_installation(actor, id).await
    }
}

/// What a reconciliation found and fixed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reconciled {
    /// Temporary uploads removed (a crash or a kill mid-upload).
    pub temp_files: u64,
    /// Repositories set aside for deletion and removed now.
    pub set_aside: u64,
    /// Installations whose counts differed from the disk and were set.
    pub recounted: u64,
}

impl Services {
    /// Sets one installation's storage count (and its license's) to the
    /// bytes its repository holds on disk: [`Self::reconcile_repositories`]
    /// for one repository, after a backup written straight to the disk.
    pub async fn recount_repository(&self, id: InstallationId) -> anyhow::Result<i64> {
        let dir = self.config.repository_dir.join(id.to_db());
        let bytes = tokio::task::spawn_blocking(move || {
            let mut found = Reconciled::default();
            match scan_repo(&dir, &mut found) {
                Err(e)
                    if e.downcast_ref::<std::io::Error>().map(|e| e.kind())
                        == Some(std::io::ErrorKind::NotFound) =>
                {
                    Ok(0)
                }
                r => r,
            }
        })
        .await??;
        let mut c = self.store.begin().await?;
        store::repositories::set_counts(&mut c, id, bytes).await?;
        store::repositories::recount_licenses(&mut c).await?;
        c.commit().await?;
        Ok(bytes)
    }

    /// After a crash: temporary uploads and repositories set aside for
    /// deletion are removed, and every repository's counts are set to the
    /// bytes on disk (reservations of uploads that never finished are
    /// given back). Only safe while no upload is in flight: `serve` runs
    /// it before it listens when the repositories are its own (the default
    /// folder in the data dir); with a shared `CC_REPOSITORY_DIR`,
    /// `command-center admin reconcile-storage` runs it on demand.
    pub async fn reconcile_repositories(&self) -> anyhow::Result<Reconciled> {
        let root = self.config.repository_dir.clone();
        let (mut found, disk) = tokio::task::spawn_blocking(move || scan_root(&root)).await??;
        let mut c = self.store.begin().await?;
        for h in store::repositories::holders(&mut c).await? {
            let folder = h
                .repository_id
                .as_deref()
                .and_then(|r| r.parse::<InstallationId>().ok())
                .unwrap_or(h.id);
            let bytes = disk.get(&folder.to_db()).copied().unwrap_or(0);
            if h.repo_bytes != bytes || h.storage_used_bytes != bytes {
                store::repositories::set_counts(&mut c, h.id, bytes).await?;
                found.recounted += 1;
            }
        }
        store::repositories::recount_licenses(&mut c).await?;
        c.commit().await?;
        if found != Reconciled::default() {
            tracing::info!(
                temp_files = found.temp_files,
                set_aside = found.set_aside,
                recounted = found.recounted,
                "repositories reconciled with the disk"
            );
        }
        Ok(found)
    }
}

/// Walks the repository root: removes what a crash left, returns each
/// repository folder's bytes.
fn scan_root(
    root: &std::path::Path,
) -> anyhow::Result<(Reconciled, std::collections::HashMap<String, i64>)> {
    let mut found = Reconciled::default();
    let mut bytes = std::collections::HashMap::new();
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((found, bytes)),
        Err(e) => return Err(e.into()),
    };
    for e in entries {
        let e = e?;
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with(".deleted-") {
            std::fs::remove_dir_all(e.path())?;
            found.set_aside += 1;
        } else if e.file_type()?.is_dir() && name.parse::<InstallationId>().is_ok() {
            bytes.insert(name, scan_repo(&e.path(), &mut found)?);
        }
    }
    Ok((found, bytes))
}

/// A repository's bytes; temporary uploads (hidden names) are removed.
fn scan_repo(dir: &std::path::Path, found: &mut Reconciled) -> anyhow::Result<i64> {
    let mut total = 0i64;
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let t = e.file_type()?;
        if t.is_dir() {
            total = total.saturating_add(scan_repo(&e.path(), found)?);
        } else if e.file_name().to_string_lossy().starts_with('.') {
            std::fs::remove_file(e.path())?;
            found.temp_files += 1;
        } else {
            total = total.saturating_add(i64::try_from(e.metadata()?.len()).unwrap_or(i64::MAX));
        }
    }
    Ok(total)
}
