//! One installation as its page shows it: details, the policy its client
//! sees (without the key), health, and the backup history by day.

use super::clients::{Installation, Policy};
use super::{Actor, Result, Services};
use crate::domain::health::Health;
use crate::domain::history::{self, DayBucket, Run};
use crate::domain::{InstallationId, InviteId, Millis, now_millis, rfc3339};
use crate::store;

/// Days of history the page and the API show.
pub const HISTORY_DAYS: i64 = 30;

/// Runs read for one history at most (a client reporting every minute
/// makes 43,200 in 30 days).
const HISTORY_MAX_RUNS: i64 = 100_000;

/// Everything the installation page shows besides the history.
#[derive(Debug, Clone)]
pub struct InstallationDetails {
    pub installation: Installation,
    /// What the client is told, without the encryption key.
    pub policy: Policy,
    /// Whether the customer has an encryption key (the key is never shown here).
    pub encryption_key_set: bool,
    /// The invite it was activated with: its e-mail (none for trials).
    pub invite_email: Option<String>,
    pub last_success_at: Option<String>,
    pub failed_in_row: i64,
    /// The monitoring word; none once deactivated.
    pub health: Option<Health>,
    /// The latest snapshots the client reported, newest first.
    pub snapshots: Vec<Snapshot>,
    /// The repository this installation continues (it replaced that computer).
    pub continues: Option<InstallationId>,
}

/// Snapshots the installation page lists at most.
pub const SNAPSHOTS_SHOWN: i64 = 20;

/// One snapshot as its backup run reported it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Snapshot {
    /// The restic snapshot id (hex).
    pub id: String,
    pub started_at: String,
    pub finished_at: String,
    /// success or warning (some entries could not be read).
    pub status: String,
    pub files_total: i64,
    /// Null when the client did not say.
    pub files_new: Option<i64>,
    pub files_changed: i64,
    /// Bytes of the files read.
    pub bytes_total: i64,
    /// Bytes added to the repository (after deduplication and compression).
    pub bytes_added: i64,
    pub duration_secs: i64,
}

impl Snapshot {
    /// The short id restic prints.
    pub fn short_id(&self) -> &str {
        self.id.get(..8).unwrap_or(&self.id)
    }
}

/// A client's backup runs per UTC day.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct History {
    pub installation_id: InstallationId,
    /// First day (ISO date, UTC).
    pub from: String,
    /// Last day, today (ISO date, UTC).
    pub to: String,
    /// One bucket per day, oldest first; days without a run have `runs` 0
    /// and `bytes_total` null.
    pub days: Vec<DayBucket>,
}

impl Services {
    /// The installation page's data; another vendor's installation is not
    /// found.
    pub async fn installation_details(
        &self,
        actor: &Actor,
        id: InstallationId,
    ) -> Result<InstallationDetails> {
        let mut c = self.store.read().await?;
        let n = super::clients::visible_installation(&mut c, actor, id).await?;
        let invite_email = match n
            .invite_id
            .as_deref()
            .and_then(|i| i.parse::<InviteId>().ok())
        {
            Some(iid) => store::invites::get(&mut c, iid).await?.map(|i| i.email),
            None => None,
        };
        let snapshots = store::installations::snapshots(&mut c, id, SNAPSHOTS_SHOWN)
            .await?
            .into_iter()
            .map(|r| Snapshot {
                id: r.snapshot_id,
                started_at: rfc3339(r.started_at),
                finished_at: rfc3339(r.finished_at),
                status: r.status.as_str().to_string(),
                files_total: r.files_total,
                files_new: r.files_new,
                files_changed: r.files_changed,
                bytes_total: r.bytes_total,
                bytes_added: r.bytes_uploaded,
                duration_secs: (r.finished_at - r.started_at).max(0) / 1000,
            })
            .collect();
        let continues = Some(n.repository()).filter(|r| *r != n.id);
        let policy = self.policy_terms(&n)?;
        let health = n.deactivated_at.is_none().then(|| {
            let limit = n.client_limit_gb.saturating_mul(1_000_000_000);
            Health::of(
                n.last_backup_at,
                n.last_backup_status.as_deref(),
                n.last_success_at,
                limit > 0 && n.storage_used_bytes > limit,
                now_millis(),
                self.overdue_ms(),
            )
        });
        Ok(InstallationDetails {
            encryption_key_set: n.encryption_key_enc.is_some(),
            invite_email,
            last_success_at: n.last_success_at.map(rfc3339),
            failed_in_row: n.failed_in_row,
            health,
            policy,
            snapshots,
            continues,
            installation: self.installation_view(n)?,
        })
    }

    /// The last [`HISTORY_DAYS`] UTC days of an installation's backups.
    pub async fn installation_history(&self, actor: &Actor, id: InstallationId) -> Result<History> {
        self.installation_history_at(actor, id, now_millis()).await
    }

    /// The same, as of `now`.
    pub async fn installation_history_at(
        &self,
        actor: &Actor,
        id: InstallationId,
        now: Millis,
    ) -> Result<History> {
        self.get_installation(actor, id).await?;
        let since = history::window_start(now, HISTORY_DAYS);
        let mut c = self.store.read().await?;
        let rows = store::installations::runs_since(&mut c, id, since, HISTORY_MAX_RUNS).await?;
        let runs = rows
            .into_iter()
            .map(|r| Run {
                finished_at: r.finished_at,
                status: r.status,
                bytes_total: r.bytes_total,
            })
            .collect::<Vec<_>>();
        let days = history::buckets(&runs, now, HISTORY_DAYS);
        Ok(History {
            installation_id: id,
            from: days.first().map(|d| d.date.clone()).unwrap_or_default(),
            to: days.last().map(|d| d.date.clone()).unwrap_or_default(),
            days,
        })
    }
}
