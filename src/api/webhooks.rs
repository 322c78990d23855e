//! `/api/v1/webhooks` (#16): endpoints, their delivery log, a test event
//! and redelivery.

use crate::http::Path;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::ApiActor;
use crate::http::{ApiResult, AppState, Body, ProblemDocument};
use crate::service::Page;
use crate::service::webhooks::{Attempt, Delivery, Endpoint, EndpointInput};

/// A new endpoint: `secret` (for verifying signatures) is shown this once.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct CreatedEndpoint {
    #[serde(flatten)]
    endpoint: Endpoint,
    secret: String,
}

#[utoipa::path(get, path = "/api/v1/webhooks", operation_id = "list_webhooks", tag = "webhooks", summary = "Webhook endpoints (your vendor's; administrators see every one)", responses((status = 200, description = "The endpoints", body = Page<Endpoint>), (status = 401, description = "No valid bearer token", body = ProblemDocument)), security(("bearer" = [])))]
pub async fn list(State(state): State<AppState>, who: ApiActor) -> ApiResult<Response> {
    Ok(Json(Page::all(state.services.list_webhooks(&who.actor).await?)).into_response())
}

#[utoipa::path(post, path = "/api/v1/webhooks", operation_id = "create_webhook", tag = "webhooks", summary = "Make a webhook endpoint (https; signed by Standard Webhooks)", request_body = EndpointInput, responses((status = 201, description = "Made; the signing secret is shown this once", body = CreatedEndpoint), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 403, description = "Your role or token does not allow this", body = ProblemDocument), (status = 422, description = "Invalid input; `errors` lists the fields", body = ProblemDocument)), security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    who: ApiActor,
    Body(req): Body<EndpointInput>,
) -> ApiResult<Response> {
    let (endpoint, secret) = state.services.create_webhook(&who.actor, &req).await?;
    let body = CreatedEndpoint {
        endpoint,
        secret: secret.expose().clone(),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[utoipa::path(get, path = "/api/v1/webhooks/{id}", operation_id = "get_webhook", tag = "webhooks", summary = "One webhook endpoint", params(("id" = String, Path, description = "Endpoint id")), responses((status = 200, description = "The endpoint", body = Endpoint), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 404, description = "Not found (or another vendor's)", body = ProblemDocument)), security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    who: ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(state.services.get_webhook(&who.actor, &id).await?).into_response())
}

#[utoipa::path(put, path = "/api/v1/webhooks/{id}", operation_id = "update_webhook", tag = "webhooks", summary = "Change a webhook endpoint's URL, events or enabled flag", params(("id" = String, Path, description = "Endpoint id")), request_body = EndpointInput, responses((status = 200, description = "Changed", body = Endpoint), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 403, description = "Your role or token does not allow this", body = ProblemDocument), (status = 404, description = "Not found (or another vendor's)", body = ProblemDocument), (status = 422, description = "Invalid input", body = ProblemDocument)), security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    who: ApiActor,
    Path(id): Path<String>,
    Body(req): Body<EndpointInput>,
) -> ApiResult<Response> {
    Ok(Json(state.services.update_webhook(&who.actor, &id, &req).await?).into_response())
}

#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", operation_id = "delete_webhook", tag = "webhooks", summary = "Delete a webhook endpoint and its log", params(("id" = String, Path, description = "Endpoint id")), responses((status = 204, description = "Deleted"), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 403, description = "Your role or token does not allow this", body = ProblemDocument), (status = 404, description = "Not found (or another vendor's)", body = ProblemDocument)), security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    who: ApiActor,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.services.delete_webhook(&who.actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", operation_id = "list_webhook_deliveries", tag = "webhooks", summary = "The endpoint's delivery log, newest first (kept 30 days)", params(("id" = String, Path, description = "Endpoint id")), responses((status = 200, description = "Deliveries", body = Page<Delivery>), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 404, description = "Not found (or another vendor's)", body = ProblemDocument)), security(("bearer" = [])))]
pub async fn deliveries(
    State(state): State<AppState>,
    who: ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(Page::all(
        state
            .services
            .list_webhook_deliveries(&who.actor, &id)
            .await?,
    ))
    .into_response())
}

#[utoipa::path(post, path = "/api/v1/webhooks/{id}/test", operation_id = "test_webhook", tag = "webhooks", summary = "Send a `ping` event to the endpoint", params(("id" = String, Path, description = "Endpoint id")), responses((status = 202, description = "Queued", body = Delivery), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 404, description = "Not found (or another vendor's)", body = ProblemDocument)), security(("bearer" = [])))]
pub async fn test(
    State(state): State<AppState>,
    who: ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let d = state.services.test_webhook(&who.actor, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(d)).into_response())
}

#[utoipa::path(post, path = "/api/v1/webhooks/{id}/deliveries/{delivery}/redeliver", operation_id = "redeliver_webhook_delivery", tag = "webhooks", summary = "Send a delivery's event again (same webhook-id)", params(("id" = String, Path, description = "Endpoint id"), ("delivery" = String, Path, description = "Delivery id")), responses((status = 202, description = "Queued", body = Delivery), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 404, description = "Not found (or another vendor's)", body = ProblemDocument)), security(("bearer" = [])))]
pub async fn redeliver(
    State(state): State<AppState>,
    who: ApiActor,
    Path((id, delivery)): Path<(String, String)>,
) -> ApiResult<Response> {
    let d = state
        .services
        .redeliver_webhook(&who.actor, &id, &delivery)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(d)).into_response())
}

#[utoipa::path(get, path = "/api/v1/webhooks/{id}/attempts", tag = "webhooks", summary = "The endpoint's delivery log, one row per attempt, newest first (kept 30 days)", params(("id" = String, Path, description = "Endpoint id")), responses((status = 200, description = "Attempts", body = Page<Attempt>), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 404, description = "Not found (or another vendor's)", body = ProblemDocument)), security(("bearer" = [])))]
pub async fn attempts(
    State(state): State<AppState>,
    who: ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(Page::all(
        state
            .services
            .list_webhook_attempts(&who.actor, &id)
            .await?,
    ))
    .into_response())
}

#[utoipa::path(post, path = "/api/v1/webhooks/{id}/rotate", tag = "webhooks", summary = "Rotate the signing secret: the new one is shown this once; the old one signs beside it during the grace period (`previous_secret_until`)", params(("id" = String, Path, description = "Endpoint id")), responses((status = 200, description = "Rotated", body = CreatedEndpoint), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 403, description = "Your role or token does not allow this", body = ProblemDocument), (status = 404, description = "Not found (or another vendor's)", body = ProblemDocument)), security(("bearer" = [])))]
pub async fn rotate(
    State(state): State<AppState>,
    who: ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let (endpoint, secret) = state
        .services
        .rotate_webhook_secret(&who.actor, &id)
        .await?;
    let body = CreatedEndpoint {
        endpoint,
        secret: secret.expose().clone(),
    };
    Ok(Json(body).into_response())
}
