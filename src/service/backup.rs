//! The daily backup of the console (`CC_BACKUP_DIR`, `CC_BACKUP_KEEP`,
//! `CC_BACKUP_HOUR`): after the hour (UTC) each day one instance — the one
//! whose claim of the day's row in `settings` wins, however many share the
//! database — writes an archive like `command-center backup`, then prunes
//! the folder to the newest `CC_BACKUP_KEEP`. The result is stored in
//! `settings` (shown on Settings, exported to `/metrics` by every
//! instance). A failure is e-mailed to every enabled administrator: the
//! alerts table is about a customer's clients and licenses (it needs a
//! vendor and a customer), so the console's own trouble goes to the
//! admins as an outbox message, queued in the transaction that records
//! the failure.

use std::sync::Arc;
use std::time::Duration;

use super::{Actor, Result, Services};
use crate::domain::message::MessageKind;
use crate::domain::{MessageId, Millis, now_millis};
use crate::i18n::Lang;
use crate::store::{self, StoreError};

const STATUS_KEY: &str = "backup_last";
/// How often the task looks whether the day's backup is due.
const CHECK_EVERY: Duration = Duration::from_secs(60);
/// The first look after start (start-up stays quick).
const FIRST_CHECK_AFTER: Duration = Duration::from_secs(5);

/// The last scheduled backup, as stored.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct BackupStatus {
    /// When it ended (ms).
    pub at: Millis,
    pub ok: bool,
    /// The archive written (full path), empty on failure.
    pub file: String,
    pub bytes: u64,
    /// Why it failed; empty when it worked.
    pub error: String,
    /// Older archives removed after it.
    pub pruned: usize,
    /// When the last successful one ended (ms), kept across failures.
    pub last_success_at: Option<Millis>,
}

fn date_of(ms: Millis) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

impl Services {
    /// Admins: the last scheduled backup (None: none yet).
    pub async fn backup_status(&self, actor: &Actor) -> Result<Option<BackupStatus>> {
        actor.require_admin()?;
        self.last_backup().await
    }

    /// The last scheduled backup as stored (no permission check: for the
    /// background task and `/metrics`).
    pub async fn last_backup(&self) -> Result<Option<BackupStatus>> {
        let mut c = self.store.read().await?;
        let raw = store::settings::get(&mut c, STATUS_KEY).await?;
        Ok(raw.and_then(|r| serde_json::from_str(&r).ok()))
    }

    /// Sets the backup gauges of `/metrics` from the stored status (every
    /// instance, whichever made the backup).
    pub async fn export_backup_metrics(&self) -> Result<()> {
        if let Some(s) = self.last_backup().await? {
            metrics::gauge!("cc_backup_last_run_timestamp_seconds").set(s.at as f64 / 1000.0);
            metrics::gauge!("cc_backup_last_ok").set(if s.ok { 1.0 } else { 0.0 });
            if let Some(t) = s.last_success_at {
                metrics::gauge!("cc_backup_last_success_timestamp_seconds").set(t as f64 / 1000.0);
            }
        }
        Ok(())
    }

    /// One look at the schedule as of `now`: when `CC_BACKUP_DIR` is set,
    /// the hour has come and no instance has claimed today, writes the
    /// day's archive, prunes, records the result (and mails the admins on
    /// failure). Returns what it did, None when nothing was due.
    pub async fn scheduled_backup(&self, now: Millis) -> Result<Option<BackupStatus>> {
        let Some(dir) = self.config.backup_dir.clone() else {
            return Ok(None);
        };
        let t = date_of(now);
        if i64::from(t.hour()) < self.config.backup_hour {
            return Ok(None);
        }
        let day = t.date().to_string();
        let mut tx = self.store.begin().await?;
        let mine = store::backup::claim_day(&mut tx, &day).await?;
        tx.commit().await.map_err(StoreError::from)?;
        if !mine {
            return Ok(None);
        }
        let previous = self.last_backup().await?;
        let done = self.write_scheduled(&dir, now).await;
        let ended = now_millis().max(now);
        let status = match done {
            Ok((file, bytes, pruned)) => BackupStatus {
                at: ended,
                ok: true,
                file,
                bytes,
                error: String::new(),
                pruned,
                last_success_at: Some(ended),
            },
            Err(e) => BackupStatus {
                at: ended,
                ok: false,
                file: String::new(),
                bytes: 0,
                error: format!("{e:#}").chars().take(1000).collect(),
                pruned: 0,
                last_success_at: previous.and_then(|p| p.last_success_at),
            },
        };
        self.record_backup(&status).await?;
        if status.ok {
            tracing::info!(file = %status.file, bytes = status.bytes, pruned = status.pruned, "console backup written");
        } else {
            tracing::error!(error = %status.error, "the console backup failed; the administrators were e-mailed");
        }
        let _ = self.export_backup_metrics().await;
        Ok(Some(status))
    }

    async fn write_scheduled(
        &self,
        dir: &std::path::Path,
        now: Millis,
    ) -> anyhow::Result<(String, u64, usize)> {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(dir)
            .map_err(|e| anyhow::anyhow!("cannot create CC_BACKUP_DIR {}: {e}", dir.display()))?;
        let to = dir.join(crate::backup::scheduled_name(now));
        let out = crate::backup::create(&self.store, &self.config, &to, None).await?;
        if !out.manifest.database_included {
            // The archive is kept (it has the key), but a backup without
            // the database is no backup: say so loudly.
            anyhow::bail!(
                "pg_dump was not found on the PATH: {} holds the key but not the database",
                to.display()
            );
        }
        let removed = crate::backup::prune(dir, self.config.backup_keep)?;
        Ok((out.path.display().to_string(), out.bytes, removed.len()))
    }

    /// Stores the result; a failure queues one e-mail to each enabled
    /// admin in the same transaction.
    async fn record_backup(&self, status: &BackupStatus) -> Result<()> {
        let json = serde_json::to_string(status).map_err(anyhow::Error::from)?;
        let mut tx = self.store.begin().await?;
        store::settings::set(&mut tx, STATUS_KEY, &json).await?;
        let mut queued = false;
        if !status.ok {
            let (en, fi) = (Lang::En, Lang::Fi);
            let fill = |l: Lang, key: &str| {
                l.fmt(
                    key,
                    &[
                        ("url", self.config.public_url.as_str().into()),
                        ("error", status.error.as_str().into()),
                        ("at", l.time_ms(status.at).into()),
                        (
                            "last",
                            status
                                .last_success_at
                                .map(|t| l.time_ms(t))
                                .unwrap_or_else(|| "—".into())
                                .into(),
                        ),
                    ],
                )
            };
            let subject = format!(
                "{} / {}",
                fill(en, "mail.backup_failed.subject"),
                fill(fi, "mail.backup_failed.subject")
            );
            let text = format!(
                "{}\n\n---\n\n{}\n",
                fill(en, "mail.backup_failed.text"),
                fill(fi, "mail.backup_failed.text")
            );
            let payload = serde_json::json!({"subject": subject, "text": text}).to_string();
            for to in store::backup::admin_emails(&mut tx).await? {
                store::outbox::enqueue(
                    &mut tx,
                    MessageId::new(),
                    MessageKind::Alert,
                    None,
                    &to,
                    Some(&payload),
                    now_millis(),
                )
                .await?;
                queued = true;
            }
        }
        tx.commit().await.map_err(StoreError::from)?;
        if queued {
            self.mail_wakeup.notify_one();
        }
        Ok(())
    }
}

/// The schedule's task: looks every minute until shutdown (the backup
/// itself is not cut short by shutdown: an archive is written whole or
/// not at all). Does nothing without `CC_BACKUP_DIR`.
pub async fn run(services: Arc<Services>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    if services.config.backup_dir.is_none() {
        return;
    }
    let mut wait = FIRST_CHECK_AFTER;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.wait_for(|v| *v) => return,
        }
        wait = CHECK_EVERY;
        if let Err(e) = services.scheduled_backup(now_millis()).await {
            tracing::warn!(error = %e, "the backup schedule could not be checked; trying again");
        }
        let _ = services.export_backup_metrics().await;
    }
}
