//! `GET /api/v1/usage`: a month's usage per customer and vendor, as JSON or
//! (with `Accept: text/csv`) as CSV.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use super::ApiActor;
use crate::domain::now_millis;
use crate::http::{ApiResult, AppState, ProblemDocument, Query};
use crate::service::usage::{UsageQuery, UsageReport, parse_query};

#[utoipa::path(get, path = "/api/v1/usage", operation_id = "get_usage", tag = "usage",
    summary = "A month's usage per vendor and customer (seats licensed and used, space, storage: peak and average of the daily samples, days active); `Accept: text/csv` answers the customer rows as CSV with the columns month, vendor_id, vendor_name, customer_id, customer_name, license_type, days, days_active, then `<quantity>_peak` and `<quantity>_avg` for standard_seats, standard_used, server_seats, server_used, total_space_gb, storage_used_bytes",
    params(UsageQuery),
    responses(
        (status = 200, description = "The month's usage (JSON, or CSV with `Accept: text/csv`)", content((UsageReport = "application/json"), (String = "text/csv"))),
        (status = 401, description = "No valid bearer token", body = ProblemDocument),
        (status = 404, description = "No such vendor, or another vendor's", body = ProblemDocument),
        (status = 422, description = "`validation_failed`: month is not YYYY-MM", body = ProblemDocument)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    who: ApiActor,
    headers: HeaderMap,
    Query(q): Query<UsageQuery>,
) -> ApiResult<Response> {
    let (month, vendor) = parse_query(&q)?;
    let report = state
        .services
        .usage_report(&who.actor, month, vendor, now_millis())
        .await?;
    let wants_csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"));
    if wants_csv {
        return Ok(crate::http::csv::usage_response(&report));
    }
    Ok(Json(report).into_response())
}
