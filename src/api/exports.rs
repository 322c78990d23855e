//! `GET /api/v1/licenses.csv`, `/api/v1/invites.csv` and
//! `/api/v1/installations.csv`: every row the caller may see as CSV,
//! streamed (see `http::csv::export_response`).

use axum::extract::State;
use axum::response::Response;

use super::ApiActor;
use super::customers::ExportQuery;
use crate::http::csv::{Export, export_response};
use crate::http::{ApiResult, AppState, ProblemDocument, Query};

fn respond(state: AppState, who: ApiActor, q: ExportQuery, what: Export) -> ApiResult<Response> {
    let vendor = match q
        .vendor_id
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        None => None,
        Some(v) => Some(crate::service::path_id(v)?),
    };
    Ok(export_response(
        what,
        state.services.clone(),
        who.actor,
        vendor,
        q.bom.unwrap_or(false),
    ))
}

#[utoipa::path(get, path = "/api/v1/licenses.csv", tag = "customers", operation_id = "export_licenses",
    summary = "Every license the caller may see as CSV (streamed, in creation order; operators get their own vendor's only). Columns: id, customer_id, customer_name, vendor_id, type, state, standard_seats, standard_used, server_seats, server_used, extra_space_gb, total_space_gb, client_limit_gb, created, valid_to, comments, created_at, updated_at; a cell starting with =, +, - or @ gets a leading '",
    params(ExportQuery),
    responses((status = 200, description = "The CSV file", content_type = "text/csv", body = String), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 404, description = "No such vendor", body = ProblemDocument)),
    security(("bearer" = [])))]
pub async fn licenses(
    State(state): State<AppState>,
    who: ApiActor,
    Query(q): Query<ExportQuery>,
) -> ApiResult<Response> {
    respond(state, who, q, Export::Licenses)
}

#[utoipa::path(get, path = "/api/v1/invites.csv", tag = "invites", operation_id = "export_invites",
    summary = "Every invite the caller may see as CSV, never with its activation code (streamed, in creation order; operators get their own vendor's only). Columns: id, license_id, customer_id, customer_name, username, email, software_type, store_deleted_days, created_at, expires_at, sent_at, delivery_state, status, used_at, revoked_at; a cell starting with =, +, - or @ gets a leading '",
    params(ExportQuery),
    responses((status = 200, description = "The CSV file", content_type = "text/csv", body = String), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 404, description = "No such vendor", body = ProblemDocument)),
    security(("bearer" = [])))]
pub async fn invites(
    State(state): State<AppState>,
    who: ApiActor,
    Query(q): Query<ExportQuery>,
) -> ApiResult<Response> {
    respond(state, who, q, Export::Invites)
}

#[utoipa::path(get, path = "/api/v1/installations.csv", tag = "installations", operation_id = "export_installations",
    summary = "Every installation (live and deactivated) the caller may see as CSV (streamed, in activation order; operators get their own vendor's only). Columns: id, license_id, customer_id, customer_name, username, software_type, hostname, os, client_version, trial_email, activated_at, deactivated_at, last_seen_at, last_backup_at, last_backup_status, storage_used_bytes, replaced_by; a cell starting with =, +, - or @ gets a leading '",
    params(ExportQuery),
    responses((status = 200, description = "The CSV file", content_type = "text/csv", body = String), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 404, description = "No such vendor", body = ProblemDocument)),
    security(("bearer" = [])))]
pub async fn installations(
    State(state): State<AppState>,
    who: ApiActor,
    Query(q): Query<ExportQuery>,
) -> ApiResult<Response> {
    respond(state, who, q, Export::Installations)
}
