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
        // backup.completed / backup.failed, built only when an endpoint of
        // this vendor (or a global one) wants it: the subscription cache
        // answers without a query nearly always, so a console without
        // subscribers pays nothing more per report.
        let event_type = if status == "failed" {
            "backup.failed"
        } else {
            "backup.completed"
        };
        let event = if self
            .subscriptions
            .wants(&self.store, Some(n.vendor_id), event_type)
            .await?
        {
            let data = serde_json::json!({
                "installation_id": n.id.to_db(),
                "license_id": n.license_id.to_db(),
                "customer_id": n.customer_id.to_db(),
                "username": n.username,
                "hostname": n.hostname,
                "report_id": report.id,
                "status": status,
                "started_at": crate::domain::rfc3339(report.started_at),
                "finished_at": crate::domain::rfc3339(report.finished_at),
                "bytes_total": report.bytes_total,
                "bytes_uploaded": report.bytes_uploaded,
                "files_total": report.files_total,
                "files_changed": report.files_changed,
                "message": report.message,
                "snapshot_id": report.snapshot_id,
            });
            let path = format!("/installations/{}", n.id.to_db());
            Some(crate::service::webhooks::new_event(
                &self.config.public_url,
                Some(n.vendor_id),
                event_type,
                data,
                Some(&path),
                now,
            ))
        } else {
            None
        };
        let (tx, rx) = oneshot::channel();
        self.reports
            .tx
            .send((report, event, tx))
            .await
            .map_err(|_| anyhow::anyhow!("report writer stopped"))?;
        rx.await
            .map_err(|_| anyhow::anyhow!("report writer dropped the report"))?
            .map_err(|e| anyhow::anyhow!("storing the report failed: {e}"))?;
        metrics::counter!("cc_reports_total", "status" => status).increment(1);
        Ok(())
    }
}
