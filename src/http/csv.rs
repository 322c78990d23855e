//! CSV downloads: spreadsheet-safe fields and the monitoring view as CSV
//! (the console and the admin API serve the same file).

use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::service::monitoring::MonitoringEntry;

/// Quotes a CSV field when it needs it, and defuses spreadsheet formulas.
pub fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// A CSV download of monitoring rows.
pub fn monitoring_response(items: &[MonitoringEntry]) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"monitoring.csv\"",
            ),
        ],
        monitoring(items),
    )
        .into_response()
}

/// The same view as CSV (all pages, up to 100,000 rows).
pub fn monitoring(items: &[MonitoringEntry]) -> String {
    let mut out = String::from(
        "installation_id,customer_id,customer_name,username,hostname,software_type,last_seen_at,last_backup_at,last_backup_status,storage_used_bytes,client_limit_bytes,health\n",
    );
    for e in items {
        let row = [
            e.installation_id.to_string(),
            e.customer_id.to_string(),
            e.customer_name.clone(),
            e.username.clone(),
            e.hostname.clone(),
            e.software_type.clone(),
            e.last_seen_at.clone().unwrap_or_default(),
            e.last_backup_at.clone().unwrap_or_default(),
            e.last_backup_status.clone().unwrap_or_default(),
            e.storage_used_bytes.to_string(),
            e.client_limit_bytes.to_string(),
            e.health.as_str().to_string(),
        ];
        out.push_str(
            &row.iter()
                .map(|f| csv_field(f))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn csv_quoting() {
        assert_eq!(super::csv_field("plain"), "plain");
        assert_eq!(super::csv_field("a,b"), "\"a,b\"");
        assert_eq!(super::csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(super::csv_field("=cmd()"), "'=cmd()");
    }
}
