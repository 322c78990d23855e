//! `/api/v1/operators` (admins only).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{ApiActor, ApiResult, Body, items};
use crate::domain::OperatorId;
use crate::service::ServiceError;
use crate::service::operators::OperatorInput;
use crate::web::AppState;

fn id(s: &str) -> Result<OperatorId, ServiceError> {
    s.parse().map_err(|_| ServiceError::NotFound)
}

pub async fn list(State(state): State<AppState>, who: ApiActor) -> ApiResult<Response> {
    Ok(items(state.services.list_operators(&who.actor).await?, None).into_response())
}

pub async fn get(
    State(state): State<AppState>,
    who: ApiActor,
    Path(p): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(state.services.get_operator(&who.actor, id(&p)?).await?).into_response())
}

pub async fn create(
    State(state): State<AppState>,
    who: ApiActor,
    Body(input): Body<OperatorInput>,
) -> ApiResult<Response> {
    let o = state.services.create_operator(&who.actor, &input).await?;
    Ok((StatusCode::CREATED, Json(o)).into_response())
}

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
            .update_operator(&who.actor, id(&p)?, &input)
            .await?,
    )
    .into_response())
}
