//! Reports: a client tells how a backup run went. Checked here, stored by
//! the group-commit writer (`report_writer.rs`).

use tokio::sync::oneshot;

use crate::domain::{Millis, now_millis};
use crate::service::{Result, ServiceError, Services};
use crate::store::{self, installations::InstallationRow};

use super::ReportInput;

fn parse_time(
    field: &'static str,
    raw: &str,
) -> std::result::Result<Millis, crate::domain::FieldError> {
    time::OffsetDateTime::parse(raw.trim(), &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|_| crate::domain::FieldError::new(field, "error.rfc3339"))
}

impl Services {
    /// Stores one backup run (also for expired or suspended licenses).
    pub async fn client_report(&self, n: &InstallationRow, input: &ReportInput) -> Result<()> {
        let now = now_millis();
        let mut c = crate::service::Checks::default();
        let started = c.take(parse_time("started_at", &input.started_at));
        let finished = c.take(parse_time("finished_at", &input.finished_at));
        let status: Option<&'static str> = match input.status.trim() {
            "success" => Some("success"),
            "warning" => Some("warning"),
            "failed" => Some("failed"),
            _ => {
                c.push(crate::domain::FieldError::new(
                    "status",
                    "error.report_status",
                ));
                None
            }
        };
        for (field, v) in [
            ("bytes_total", input.bytes_total),
            ("bytes_uploaded", input.bytes_uploaded),
            ("files_total", input.files_total),
            ("files_changed", input.files_changed),
        ] {
            if v < 0 {
                c.push(crate::domain::FieldError::new(field, "error.negative"));
            }
        }
        let message = c.take(crate::service::text("message", &input.message, 2000, false));
        if let (Some(s), Some(f)) = (started, finished) {
            if f < s {
                c.push(crate::domain::FieldError::new(
                    "finished_at",
                    "error.finished_before_started",
                ));
            }
            if f > now + 24 * 3600 * 1000 {
                c.push(crate::domain::FieldError::new(
                    "finished_at",
                    "error.in_the_future",
                ));
            }
        }
        c.finish()?;
        let (Some(started), Some(finished), Some(status), Some(message)) =
            (started, finished, status, message)
        else {
            return Err(ServiceError::Internal(anyhow::anyhow!(
                "checks passed without values"
            )));
        };
        let report = store::installations::NewReport {
            id: crate::domain::AuditId::new().to_db(),
            installation_id: n.id,
            started_at: started,
            finished_at: finished,
            status,
            bytes_total: input.bytes_total,
            bytes_uploaded: input.bytes_uploaded,
            files_total: input.files_total,
            files_changed: input.files_changed,
            message,
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
