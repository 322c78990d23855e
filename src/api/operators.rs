//! `/api/v1/operators` (admins only).

use crate::http::Path;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::ApiActor;
use crate::domain::OperatorId;
use crate::http::AppState;
use crate::http::{ApiResult, Body, ProblemDocument};
use crate::service::Page;
use crate::service::operators::{Operator, OperatorInput};
use crate::service::path_id;

#[utoipa::path(get, path = "/api/v1/operators", operation_id = "list_operators", tag = "operators", summary = "List operators (admins)", responses((status = 200, description = "All operators", body = Page<Operator>), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 403, description = "Your role does not allow this", body = ProblemDocument)), security(("bearer" = [])))]
pub async fn list(State(state): State<AppState>, who: ApiActor) -> ApiResult<Response> {
    Ok(Json(Page::all(state.services.list_operators(&who.actor).await?)).into_response())
}

#[utoipa::path(get, path = "/api/v1/operators/{id}", operation_id = "get_operator", tag = "operators", summary = "One operator (admins)", params(("id" = uuid::Uuid, Path, description = "Operator id")), responses((status = 200, description = "The operator", body = Operator), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 403, description = "Your role does not allow this", body = ProblemDocument), (status = 404, description = "Not found (or another vendor's)", body = ProblemDocument)), security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    who: ApiActor,
    Path(p): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(
        state
            .services
            .get_operator(&who.actor, path_id::<OperatorId>(&p)?)
            .await?,
    )
    .into_response())
}

#[utoipa::path(post, path = "/api/v1/operators", operation_id = "create_operator", tag = "operators", summary = "Create an operator (admins)", request_body = OperatorInput, responses((status = 201, description = "Created", body = Operator), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 403, description = "Your role does not allow this", body = ProblemDocument), (status = 409, description = "Conflicts with the current state", body = ProblemDocument), (status = 422, description = "Invalid input; `errors` lists the fields", body = ProblemDocument)), security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    who: ApiActor,
    Body(input): Body<OperatorInput>,
) -> ApiResult<Response> {
    let o = state.services.create_operator(&who.actor, &input).await?;
    Ok((StatusCode::CREATED, Json(o)).into_response())
}

#[utoipa::path(put, path = "/api/v1/operators/{id}", operation_id = "update_operator", tag = "operators", summary = "Edit, disable or re-password an operator (admins)", params(("id" = uuid::Uuid, Path, description = "Operator id")), request_body = OperatorInput, responses((status = 200, description = "Saved", body = Operator), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 403, description = "Your role does not allow this", body = ProblemDocument), (status = 404, description = "Not found (or another vendor's)", body = ProblemDocument), (status = 409, description = "Conflicts with the current state", body = ProblemDocument), (status = 422, description = "Invalid input; `errors` lists the fields", body = ProblemDocument)), security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    who: ApiActor,
    Path(p): Path<String>,
    Body(input): Body<OperatorInput>,
) -> ApiResult<Response> {
    who.actor.require_admin()?;
    Ok(Json(
        state
            .services
            .update_operator(&who.actor, path_id::<OperatorId>(&p)?, &input)
            .await?,
    )
    .into_response())
}
