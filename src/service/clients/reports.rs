//! Reports: a client tells how a backup run went. Checked here, stored by
//! the group-commit writer (`report_writer.rs`).

use tokio::sync::oneshot;

use crate::domain::client::{NewReport, RawReport};
use crate::domain::now_millis;
use crate::service::{Result, ServiceError, Services};
use crate::store::{self, installations::InstallationRow};

use super::ReportInput;

impl Services {
    /// Stores one backup run (also for expired or suspended licenses).
    #[tracing::instrument(skip_all, fields(installation = %n.id))]
    pub async fn client_report(&self, n: &InstallationRow, input: &ReportInput) -> Result<()> {
        let now = now_millis();
        let r = NewReport::parse(
            RawReport {
                started_at: &input.started_at,
                finished_at: &input.finished_at,
                status: &input.status,
                bytes_total: input.bytes_total,
                bytes_uploaded: input.bytes_uploaded,
                files_total: input.files_total,
                files_changed: input.files_changed,
                message: &input.message,
                snapshot_id: input.snapshot_id.as_deref(),
                files_new: input.files_new,
                simulated: input.simulated,
            },
            now,
        )
        .map_err(ServiceError::Invalid)?;
        let status = r.status.as_str();
        let report = store::installations::NewReport {
            id: crate::domain::AuditId::new().to_db(),
            installation_id: n.id,
            started_at: r.started_at,
            finished_at: r.finished_at,
            status,
            bytes_total: r.bytes_total,
            bytes_uploaded: r.bytes_uploaded,
            files_total: r.files_total,
            files_changed: r.files_changed,
            message: r.message,
            snapshot_id: r.snapshot_id,
            files_new: r.files_new,
            simulated: r.simulated,
            received_at: now,
        };
        let (tx, rx) = oneshot::channel();
        self.reports
            .tx
            .send((report, tx))
            .await
            .map_err(|_| anyhow::anyhow!("report writer stopped"))?;
        rx.await
            .map_err(|_| anyhow::anyhow!("report writer dropped the report"))?
            .map_err(|e| anyhow::anyhow!("storing the report failed: {e}"))?;
        metrics::counter!("cc_reports_total", "status" => status).increment(1);
        Ok(())
    }
}
