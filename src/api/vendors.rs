//! `/api/v1/vendors` (admins only for changes).

use crate::http::Path;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::ApiActor;
use crate::domain::VendorId;
use crate::http::AppState;
use crate::http::{ApiResult, Body, ProblemDocument};
use crate::service::Page;
use crate::service::path_id;
use crate::service::vendors::{Vendor, VendorInput};

#[utoipa::path(get, path = "/api/v1/vendors", operation_id = "list_vendors", tag = "vendors", summary = "List vendors (admins)", responses((status = 200, description = "All vendors", body = Page<Vendor>), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 403, description = "Your role does not allow this", body = ProblemDocument)), security(("bearer" = [])))]
pub async fn list(State(state): State<AppState>, who: ApiActor) -> ApiResult<Response> {
    who.actor.require_admin()?;
    Ok(Json(Page::all(state.services.list_vendors(&who.actor).await?)).into_response())
}

#[utoipa::path(get, path = "/api/v1/vendors/{id}", operation_id = "get_vendor", tag = "vendors", summary = "One vendor (admins)", params(("id" = uuid::Uuid, Path, description = "Vendor id")), responses((status = 200, description = "The vendor", body = Vendor), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 403, description = "Your role does not allow this", body = ProblemDocument), (status = 404, description = "Not found (or another vendor's)", body = ProblemDocument)), security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    who: ApiActor,
    Path(p): Path<String>,
) -> ApiResult<Response> {
    who.actor.require_admin()?;
    Ok(Json(
        state
            .services
            .get_vendor(&who.actor, path_id::<VendorId>(&p)?)
            .await?,
    )
    .into_response())
}

#[utoipa::path(post, path = "/api/v1/vendors", operation_id = "create_vendor", tag = "vendors", summary = "Create a vendor (admins)", request_body = VendorInput, responses((status = 201, description = "Created", body = Vendor), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 403, description = "Your role does not allow this", body = ProblemDocument), (status = 409, description = "Conflicts with the current state", body = ProblemDocument), (status = 422, description = "Invalid input; `errors` lists the fields", body = ProblemDocument)), security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    who: ApiActor,
    Body(input): Body<VendorInput>,
) -> ApiResult<Response> {
    let v = state.services.create_vendor(&who.actor, &input).await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

#[utoipa::path(put, path = "/api/v1/vendors/{id}", operation_id = "update_vendor", tag = "vendors", summary = "Edit or disable a vendor (admins)", params(("id" = uuid::Uuid, Path, description = "Vendor id")), request_body = VendorInput, responses((status = 200, description = "Saved", body = Vendor), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 403, description = "Your role does not allow this", body = ProblemDocument), (status = 404, description = "Not found (or another vendor's)", body = ProblemDocument), (status = 409, description = "Conflicts with the current state", body = ProblemDocument), (status = 422, description = "Invalid input; `errors` lists the fields", body = ProblemDocument)), security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    who: ApiActor,
    Path(p): Path<String>,
    Body(input): Body<VendorInput>,
) -> ApiResult<Response> {
    who.actor.require_admin()?;
    Ok(Json(
        state
            .services
            .update_vendor(&who.actor, path_id::<VendorId>(&p)?, &input)
            .await?,
    )
    .into_response())
}
