//! `/api/v1/monitoring` (JSON) and `/api/v1/monitoring.csv`.

use axum::Json;
use axum::extract::State;

use crate::http::Query;
use axum::response::{IntoResponse, Response};

use super::ApiActor;
use crate::http::AppState;
use crate::http::{ApiResult, ProblemDocument};
use crate::service::Page;
use crate::service::alerts::Alert;
use crate::service::monitoring::{MonitoringEntry, MonitoringQuery};

#[utoipa::path(get, path = "/api/v1/monitoring", operation_id = "list_monitoring", tag = "monitoring", summary = "Every live installation with its backup health, worst first", params(MonitoringQuery),
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
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/alerts", operation_id = "list_alerts", tag = "monitoring", summary = "Open alerts (conditions that hold now; e-mailed when they began, or in the daily digest), newest first", params(AlertsQuery),
    responses((status = 200, description = "Open alerts", body = Page<Alert>), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 404, description = "`vendor_id` names no vendor the caller may see", body = ProblemDocument)),
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
#[utoipa::path(get, path = "/api/v1/monitoring.csv", operation_id = "export_monitoring_csv", tag = "monitoring",
    summary = "The monitoring view as CSV: every page of the same filters (`cursor` and `limit` are ignored), up to 100,000 rows; columns installation_id, customer_id, customer_name, username, hostname, software_type, last_seen_at, last_backup_at, last_backup_status, storage_used_bytes, client_limit_bytes, health",
    params(MonitoringQuery),
    responses((status = 200, description = "The CSV file", content_type = "text/csv", body = String), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 404, description = "Not found", body = ProblemDocument), (status = 422, description = "Bad filter", body = ProblemDocument)),
    security(("bearer" = [])))]
pub async fn csv(
    State(state): State<AppState>,
    who: ApiActor,
    Query(q): Query<MonitoringQuery>,
) -> ApiResult<Response> {
    let all = state.services.monitoring_all(&who.actor, &q).await?;
    Ok(crate::http::csv::monitoring_response(&all))
}
