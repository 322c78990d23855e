//! `/api/v1/installations` and trial connection.

use crate::http::Path;
use axum::Json;
use axum::extract::State;

use crate::http::Query;
use axum::response::{IntoResponse, Response};

use super::ApiActor;
use crate::domain::{InstallationId, LicenseId};
use crate::http::AppState;
use crate::http::{ApiResult, Body, ProblemDocument};
use crate::service::clients::Installation;
use crate::service::history::History;
use crate::service::path_id;
use crate::service::{Page, ServiceError};

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// The license whose installations to list.
    #[param(value_type = uuid::Uuid)]
    license_id: String,
}

#[utoipa::path(get, path = "/api/v1/installations", operation_id = "list_installations", tag = "installations", summary = "A license's installations (live first)", params(ListQuery),
    responses((status = 200, description = "The installations", body = Page<Installation>), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 404, description = "Not found", body = ProblemDocument)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    who: ApiActor,
    Query(q): Query<ListQuery>,
) -> ApiResult<Response> {
    let license: LicenseId = path_id(&q.license_id)?;
    Ok(Json(Page::all(
        state
            .services
            .list_installations(&who.actor, license)
            .await?,
    ))
    .into_response())
}

#[utoipa::path(get, path = "/api/v1/installations/{id}", operation_id = "get_installation", tag = "installations", summary = "One installation",
    params(("id" = uuid::Uuid, Path, description = "Installation id")),
    responses((status = 200, description = "The installation", body = Installation), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 404, description = "Not found", body = ProblemDocument)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    who: ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id: InstallationId = path_id(&id)?;
    Ok(Json(state.services.get_installation(&who.actor, id).await?).into_response())
}

#[utoipa::path(get, path = "/api/v1/installations/{id}/history", operation_id = "get_installation_history", tag = "installations", summary = "Backup runs per UTC day over the last 30 days (runs by status, stored bytes of the day's last run; days without a run have runs 0 and bytes_total null)",
    params(("id" = uuid::Uuid, Path, description = "Installation id")),
    responses((status = 200, description = "One bucket per day, oldest first", body = History), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 404, description = "Not found", body = ProblemDocument)),
    security(("bearer" = [])))]
pub async fn history(
    State(state): State<AppState>,
    who: ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id: InstallationId = path_id(&id)?;
    Ok(Json(state.services.installation_history(&who.actor, id).await?).into_response())
}

/// The snapshots an installation's client reported, newest first.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Snapshots {
    pub items: Vec<crate::service::history::Snapshot>,
}

#[utoipa::path(get, path = "/api/v1/installations/{id}/snapshots", operation_id = "list_snapshots", tag = "installations", summary = "The latest snapshots the client reported (at most 20, newest first): time, files, size, bytes added, duration",
    params(("id" = uuid::Uuid, Path, description = "Installation id")),
    responses((status = 200, description = "Newest first", body = Snapshots), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 404, description = "Not found", body = ProblemDocument)),
    security(("bearer" = [])))]
pub async fn snapshots(
    State(state): State<AppState>,
    who: ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id: InstallationId = path_id(&id)?;
    let d = state.services.installation_details(&who.actor, id).await?;
    Ok(Json(Snapshots { items: d.snapshots }).into_response())
}

#[utoipa::path(post, path = "/api/v1/installations/{id}/deactivate", operation_id = "deactivate_installation", tag = "installations", summary = "Deactivate an installation; its seat is freed (audited)",
    params(("id" = uuid::Uuid, Path, description = "Installation id")),
    responses((status = 200, description = "Deactivated", body = Installation), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 403, description = "Your role does not allow this", body = ProblemDocument), (status = 404, description = "Not found", body = ProblemDocument), (status = 409, description = "Already deactivated", body = ProblemDocument)),
    security(("bearer" = [])))]
pub async fn deactivate(
    State(state): State<AppState>,
    who: ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id: InstallationId = path_id(&id)?;
    Ok(Json(
        state
            .services
            .deactivate_installation(&who.actor, id)
            .await?,
    )
    .into_response())
}

/// Deleting a deactivated installation's backups: type its computer name.
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct DeleteBackupData {
    /// The installation's hostname, exactly.
    pub confirm_hostname: String,
}

#[utoipa::path(post, path = "/api/v1/installations/{id}/delete-backup-data", operation_id = "delete_backup_data", tag = "installations", summary = "Delete a deactivated installation's backups for good (confirm with its hostname; audited)",
    params(("id" = uuid::Uuid, Path, description = "Installation id")),
    request_body = DeleteBackupData,
    responses((status = 200, description = "Deleted; storage used is 0", body = Installation), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 403, description = "Your role does not allow this", body = ProblemDocument), (status = 404, description = "Not found", body = ProblemDocument), (status = 409, description = "installation_active: deactivate it first", body = ProblemDocument), (status = 422, description = "The hostname does not match", body = ProblemDocument)),
    security(("bearer" = [])))]
pub async fn delete_backup_data(
    State(state): State<AppState>,
    who: ApiActor,
    Path(id): Path<String>,
    Body(req): Body<DeleteBackupData>,
) -> ApiResult<Response> {
    let id: InstallationId = path_id(&id)?;
    Ok(Json(
        state
            .services
            .delete_backup_data(&who.actor, id, &req.confirm_hostname)
            .await?,
    )
    .into_response())
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrialQuery {
    /// The trial's e-mail or hostname, exactly.
    q: String,
}

#[utoipa::path(get, path = "/api/v1/trials", operation_id = "list_trial_clients", tag = "installations", summary = "Find live trial clients by e-mail or hostname (exact)", params(TrialQuery),
    responses((status = 200, description = "Matching trial clients", body = Page<Installation>), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 403, description = "Your role does not allow this", body = ProblemDocument)),
    security(("bearer" = [])))]
pub async fn trials(
    State(state): State<AppState>,
    who: ApiActor,
    Query(q): Query<TrialQuery>,
) -> ApiResult<Response> {
    Ok(Json(Page::all(
        state.services.find_trial_clients(&who.actor, &q.q).await?,
    ))
    .into_response())
}

/// `{"installation_id": "..."}`
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct ConnectRequest {
    #[schema(format = Uuid)]
    installation_id: String,
}

#[utoipa::path(post, path = "/api/v1/licenses/{id}/connect-trial", operation_id = "connect_trial_client", tag = "installations", summary = "Connect trial client: move a trial installation onto this license",
    params(("id" = uuid::Uuid, Path, description = "License id")), request_body = ConnectRequest,
    responses((status = 200, description = "Moved", body = Installation), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 404, description = "Not found", body = ProblemDocument), (status = 409, description = "seats_exhausted or not_a_trial", body = ProblemDocument)),
    security(("bearer" = [])))]
pub async fn connect_trial(
    State(state): State<AppState>,
    who: ApiActor,
    Path(id): Path<String>,
    Body(req): Body<ConnectRequest>,
) -> ApiResult<Response> {
    let license: LicenseId = path_id(&id)?;
    let inst: InstallationId = req
        .installation_id
        .parse()
        .map_err(|_| ServiceError::NotFound)?;
    Ok(Json(
        state
            .services
            .connect_trial(&who.actor, inst, license)
            .await?,
    )
    .into_response())
}
