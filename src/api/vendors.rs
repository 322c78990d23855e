//! `/api/v1/vendors` (admins only for changes).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{ApiActor, ApiResult, Body, items};
use crate::domain::VendorId;
use crate::service::ServiceError;
use crate::service::vendors::VendorInput;
use crate::web::AppState;

fn id(s: &str) -> Result<VendorId, ServiceError> {
    s.parse().map_err(|_| ServiceError::NotFound)
}

pub async fn list(State(state): State<AppState>, who: ApiActor) -> ApiResult<Response> {
    who.actor.require_admin()?;
    Ok(items(state.services.list_vendors(&who.actor).await?, None).into_response())
}

pub async fn get(
    State(state): State<AppState>,
    who: ApiActor,
    Path(p): Path<String>,
) -> ApiResult<Response> {
    who.actor.require_admin()?;
    Ok(Json(state.services.get_vendor(&who.actor, id(&p)?).await?).into_response())
}

pub async fn create(
    State(state): State<AppState>,
    who: ApiActor,
    Body(input): Body<VendorInput>,
) -> ApiResult<Response> {
    let v = state.services.create_vendor(&who.actor, &input).await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

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
            .update_vendor(&who.actor, id(&p)?, &input)
            .await?,
    )
    .into_response())
}
