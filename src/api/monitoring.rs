//! `/api/v1/monitoring` (JSON) and `/api/v1/monitoring.csv`.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::{ApiActor, ApiResult, ProblemDocument};
use crate::service::Page;
use crate::service::alerts::Alert;
use crate::service::monitoring::{MonitoringEntry, MonitoringQuery};
use crate::web::AppState;

#[utoipa::path(get, path = "/api/v1/monitoring", tag = "monitoring", summary = "Every live installation with its backup health, worst first", params(MonitoringQuery),
    responses((status = 200, description = "A page of installations", body = Page<MonitoringEntry>), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 404, description = "Not found", body = ProblemDocument), (status = 422, description = "Bad filter", body = ProblemDocument)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    who: ApiActor,
    Query(q): Query<MonitoringQuery>,
) -> ApiResult<Response> {
    Ok(Json(state.services.monitoring(&who.actor, &q).await?).into_response())
}

/// Query of the alerts list.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertsQuery {
    /// Admins: one vendor's alerts.
    #[serde(default)]
    pub vendor_id: Option<String>,
    /// At most this many (1–1000, default 100).
    #[serde(default)]
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/alerts", tag = "monitoring", summary = "Open alerts (conditions that hold now; e-mailed when they began, or in the daily digest), newest first", params(AlertsQuery),
    responses((status = 200, description = "Open alerts", body = Page<Alert>), (status = 401, description = "No valid bearer token", body = ProblemDocument)),
    security(("bearer" = [])))]
pub async fn alerts(
    State(state): State<AppState>,
    who: ApiActor,
    Query(q): Query<AlertsQuery>,
) -> ApiResult<Response> {
    let items = state
        .services
        .open_alerts(
            &who.actor,
            match q
                .vendor_id
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
            {
                None => None,
                Some(v) => Some(crate::service::path_id(v)?),
            },
            q.limit.unwrap_or(100),
        )
        .await?;
    Ok(Json(Page {
        items,
        next_cursor: None,
    })
    .into_response())
}

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
pub fn csv_response(items: &[MonitoringEntry]) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"monitoring.csv\"",
            ),
        ],
        to_csv(items),
    )
        .into_response()
}

/// The same view as CSV (all pages, up to 100,000 rows).
pub fn to_csv(items: &[MonitoringEntry]) -> String {
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

pub async fn csv(
    State(state): State<AppState>,
    who: ApiActor,
    Query(q): Query<MonitoringQuery>,
) -> ApiResult<Response> {
    let all = state.services.monitoring_all(&who.actor, &q).await?;
    Ok(csv_response(&all))
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
