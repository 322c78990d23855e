//! `/api/v1/licenses/{id}/invites`, `/api/v1/invites/…`.

use crate::http::Path;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::ApiActor;
use crate::domain::{InviteId, LicenseId};
use crate::http::AppState;
use crate::http::{ApiResult, Body, ProblemDocument};
use crate::service::Page;
use crate::service::invites::{Invite, InviteInput, SendReport};
use crate::service::path_id;

#[utoipa::path(get, path = "/api/v1/licenses/{id}/invites", operation_id = "list_invites", tag = "invites", summary = "A license's invites, newest first",
    params(("id" = uuid::Uuid, Path, description = "License id")),
    responses((status = 200, description = "The invites", body = Page<Invite>), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 404, description = "Not found", body = ProblemDocument)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    who: ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(Page::all(
        state
            .services
            .list_invites(&who.actor, path_id::<LicenseId>(&id)?)
            .await?,
    ))
    .into_response())
}

#[utoipa::path(post, path = "/api/v1/licenses/{id}/invites", operation_id = "create_invite", tag = "invites", summary = "Add an invite; the answer carries its activation_code. No e-mail is sent.",
    params(("id" = uuid::Uuid, Path, description = "License id")), request_body = InviteInput,
    responses((status = 201, description = "Created", body = Invite), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 403, description = "Your role does not allow this", body = ProblemDocument), (status = 404, description = "Not found", body = ProblemDocument), (status = 409, description = "The username is taken (code username_taken)", body = ProblemDocument), (status = 422, description = "Invalid input", body = ProblemDocument)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    who: ApiActor,
    Path(id): Path<String>,
    Body(input): Body<InviteInput>,
) -> ApiResult<Response> {
    let (mut invite, code) = state
        .services
        .create_invite(&who.actor, path_id::<LicenseId>(&id)?, &input)
        .await?;
    invite.activation_code = Some(code.into_inner());
    Ok((StatusCode::CREATED, Json(invite)).into_response())
}

#[utoipa::path(get, path = "/api/v1/invites/{id}", operation_id = "get_invite", tag = "invites", summary = "One invite with its delivery state (sent_at, delivery_state, delivery_error)",
    params(("id" = uuid::Uuid, Path, description = "Invite id")),
    responses((status = 200, description = "The invite", body = Invite), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 404, description = "Not found", body = ProblemDocument)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    who: ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(
        state
            .services
            .get_invite(&who.actor, path_id::<InviteId>(&id)?)
            .await?,
    )
    .into_response())
}

#[utoipa::path(delete, path = "/api/v1/invites/{id}", operation_id = "revoke_invite", tag = "invites", summary = "Revoke an unused invite",
    params(("id" = uuid::Uuid, Path, description = "Invite id")),
    responses((status = 200, description = "Revoked", body = Invite), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 403, description = "Your role does not allow this", body = ProblemDocument), (status = 404, description = "Not found", body = ProblemDocument), (status = 409, description = "Already used or revoked", body = ProblemDocument)),
    security(("bearer" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    who: ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(
        state
            .services
            .revoke_invite(&who.actor, path_id::<InviteId>(&id)?)
            .await?,
    )
    .into_response())
}

/// `{"invite_ids": [...], "resend": true}`
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct SendRequest {
    #[schema(value_type = Vec<uuid::Uuid>, min_items = 1)]
    invite_ids: Vec<String>,
    /// Required (true) when any of the invites was sent before or is on
    /// its way; without it such a request queues nothing and answers 409
    /// `already_sent` with their `count`.
    #[serde(default)]
    resend: bool,
}

#[utoipa::path(post, path = "/api/v1/invites/send", operation_id = "send_invites", tag = "invites", summary = "Queue invitation e-mails; answers at once (202), delivery follows",
    request_body = SendRequest,
    responses((status = 202, description = "Queued", body = SendReport), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 403, description = "Your role does not allow this", body = ProblemDocument), (status = 404, description = "An invite is not found; nothing was queued", body = ProblemDocument), (status = 409, description = "Some invites were sent before or are on their way and `resend` is not true (code already_sent, with their `count`); nothing was queued", body = ProblemDocument), (status = 422, description = "No invites given", body = ProblemDocument)),
    security(("bearer" = [])))]
pub async fn send(
    State(state): State<AppState>,
    who: ApiActor,
    Body(req): Body<SendRequest>,
) -> ApiResult<Response> {
    let ids = req
        .invite_ids
        .iter()
        .map(|s| path_id::<InviteId>(s))
        .collect::<Result<Vec<_>, _>>()?;
    let report = state
        .services
        .send_invites(&who.actor, &ids, req.resend)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(report)).into_response())
}
