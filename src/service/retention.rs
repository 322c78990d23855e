//! Report retention: reports received longer ago than
//! `CC_REPORT_RETENTION_DAYS` are deleted in small batches by a background
//! task, so the table does not grow forever and report ingestion is never
//! held up for long (on SQLite every batch holds the one write connection).

use std::time::Duration;

use super::{Result, Services};
use crate::domain::history::DAY_MS;
use crate::domain::{Millis, now_millis, uuid_v7_floor};
use crate::store::{self, StoreError};

/// Reports deleted per transaction at most.
pub const PRUNE_BATCH: i64 = 5_000;
/// Least rest between two batches: the report writer gets the connection.
/// The rest is at least as long as the batch took, so pruning holds the
/// writer at most half the time (a 5,000-row batch took ~125 ms on SQLite
/// with `synchronous = FULL` on the project's machine).
const PRUNE_PAUSE: Duration = Duration::from_millis(200);
/// How often the task looks for old reports.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// The first pass waits this long after start (start-up stays quick).
const FIRST_PRUNE_AFTER: Duration = Duration::from_secs(60);

impl Services {
    /// One pruning pass as of `now`: deletes every report received before
    /// `now − CC_REPORT_RETENTION_DAYS`, batch by batch, and returns how
    /// many. Retention 0 keeps everything. Installations keep their
    /// summaries (last backup, status, last success, failures in a row,
    /// storage used): those are columns of `installations`, not derived
    /// from the reports.
    pub async fn prune_reports(&self, now: Millis) -> Result<u64> {
        // Rate-limit counters of closed windows go too (one row per key
        // that ever tried; their windows are minutes long).
        let mut tx = self.store.begin().await?;
        store::ratelimit::delete_stale(&mut tx, now.saturating_sub(DAY_MS)).await?;
        tx.commit().await.map_err(StoreError::from)?;
        let days = self.config.report_retention_days;
        if days <= 0 {
            return Ok(0);
        }
        // Report ids are UUIDv7 made at receipt: "received before the
        // cutoff" is a range on the primary key.
        let bound = uuid_v7_floor(now.saturating_sub(days.saturating_mul(DAY_MS)));
        let mut total = 0u64;
        loop {
            let started = std::time::Instant::now();
            let mut tx = self.store.begin().await?;
            let n =
                store::installations::delete_reports_before(&mut tx, &bound, PRUNE_BATCH).await?;
            tx.commit().await.map_err(StoreError::from)?;
            total += n;
            if n < PRUNE_BATCH as u64 {
                break;
            }
            tokio::time::sleep(started.elapsed().max(PRUNE_PAUSE)).await;
        }
        if total > 0 {
            metrics::counter!("cc_reports_pruned_total").increment(total);
            tracing::info!(deleted = total, retention_days = days, "old reports pruned");
        }
        Ok(total)
    }
}

/// The pruning task: a pass shortly after start, then every hour, until
/// `shutdown` turns true. Does nothing when retention is 0.
pub async fn run(
    services: std::sync::Arc<Services>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    if services.config.report_retention_days <= 0 {
        return;
    }
    let mut wait = FIRST_PRUNE_AFTER;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.wait_for(|v| *v) => return,
        }
        // A pass is cut short (between batches) by shutdown too.
        tokio::select! {
            r = services.prune_reports(now_millis()) => {
                if let Err(e) = r {
                    tracing::warn!(error = %e, "pruning old reports failed; trying again later");
                }
            }
            _ = shutdown.wait_for(|v| *v) => return,
        }
        wait = PRUNE_EVERY;
    }
}
