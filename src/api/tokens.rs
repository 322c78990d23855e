//! `/api/v1/tokens`: scoped API tokens (#16).

use crate::http::Path;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::ApiActor;
use crate::http::{ApiResult, AppState, Body, ClientOrigin, ProblemDocument};
use crate::service::Page;
use crate::service::api_tokens::{ApiTokenView, NewToken};

#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct TokenInput {
    name: String,
    /// `read`, `write`, and (administrators only) `admin`.
    scopes: Vec<String>,
    /// 1 to 365; 90 when left out.
    #[serde(default)]
    expires_in_days: Option<i64>,
}

/// A new token: `token` is shown this once.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    info: ApiTokenView,
    token: String,
}

#[utoipa::path(get, path = "/api/v1/tokens", operation_id = "list_api_tokens", tag = "tokens", summary = "Live API tokens (your vendor's; administrators see every one)", responses((status = 200, description = "The tokens (never their secrets)", body = Page<ApiTokenView>), (status = 401, description = "No valid bearer token", body = ProblemDocument)), security(("bearer" = ["read"])))]
pub async fn list(State(state): State<AppState>, who: ApiActor) -> ApiResult<Response> {
    Ok(Json(Page::all(
        state.services.list_scoped_tokens(&who.actor).await?,
    ))
    .into_response())
}

#[utoipa::path(post, path = "/api/v1/tokens", operation_id = "create_api_token", tag = "tokens", summary = "Make an API token with scopes and an expiry; it acts as you, within your vendor", request_body = TokenInput, responses((status = 201, description = "Made; the token is shown this once", body = CreatedToken), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 403, description = "`insufficient_scope`: the token used lacks `write`, or the scopes asked exceed its own", body = ProblemDocument), (status = 422, description = "Invalid input; `errors` lists the fields", body = ProblemDocument)), security(("bearer" = ["write"])))]
pub async fn create(
    State(state): State<AppState>,
    who: ApiActor,
    ClientOrigin(origin): ClientOrigin,
    Body(req): Body<TokenInput>,
) -> ApiResult<Response> {
    let (info, token) = state
        .services
        .create_scoped_token(
            &who.actor,
            &NewToken {
                name: req.name,
                scopes: req.scopes,
                expires_in_days: req.expires_in_days,
            },
            &origin,
        )
        .await?;
    let body = CreatedToken {
        info,
        token: token.expose().clone(),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", operation_id = "revoke_api_token", tag = "tokens", summary = "Revoke an API token at once", params(("id" = String, Path, description = "Token id")), responses((status = 204, description = "Revoked"), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 403, description = "`insufficient_scope`, or your role does not allow revoking another's token", body = ProblemDocument), (status = 404, description = "Not found (or another vendor's)", body = ProblemDocument)), security(("bearer" = ["write"])))]
pub async fn revoke(
    State(state): State<AppState>,
    who: ApiActor,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.services.revoke_scoped_token(&who.actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
