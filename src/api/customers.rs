//! `/api/v1/customers` and `/api/v1/licenses`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{ApiActor, ApiResult, Body};
use crate::domain::{CustomerId, LicenseId, VendorId};
use crate::service::ServiceError;
use crate::service::customers::CustomerInput;
use crate::service::licenses::LicenseInput;
use crate::web::AppState;

fn customer_id(s: &str) -> Result<CustomerId, ServiceError> {
    s.parse().map_err(|_| ServiceError::NotFound)
}

fn license_id(s: &str) -> Result<LicenseId, ServiceError> {
    s.parse().map_err(|_| ServiceError::NotFound)
}

/// List filters: `vendor_id` (admins), `q` (name, VAT id, prefix),
/// `cursor` (from the previous page's `next_cursor`), `limit` (1–200).
#[derive(serde::Deserialize)]
pub struct ListQuery {
    vendor_id: Option<String>,
    q: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

pub async fn list(
    State(state): State<AppState>,
    who: ApiActor,
    Query(q): Query<ListQuery>,
) -> ApiResult<Response> {
    let vendor = match q
        .vendor_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(v) => {
            let id: VendorId = v
                .parse()
                .map_err(|_| ServiceError::invalid("vendor_id", "error.vendor_unknown"))?;
            // Another vendor's id from an operator: nothing of it is visible.
            if !who.actor.can_see(id) {
                return Err(ServiceError::NotFound.into());
            }
            Some(id)
        }
    };
    let page = state
        .services
        .list_customers(
            &who.actor,
            vendor,
            q.q.as_deref(),
            q.cursor.as_deref(),
            q.limit.unwrap_or(50),
        )
        .await?;
    Ok(Json(page).into_response())
}

pub async fn create(
    State(state): State<AppState>,
    who: ApiActor,
    Body(input): Body<CustomerInput>,
) -> ApiResult<Response> {
    let c = state.services.create_customer(&who.actor, &input).await?;
    Ok((StatusCode::CREATED, Json(c)).into_response())
}

pub async fn get(
    State(state): State<AppState>,
    who: ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(
        state
            .services
            .get_customer(&who.actor, customer_id(&id)?)
            .await?,
    )
    .into_response())
}

pub async fn update(
    State(state): State<AppState>,
    who: ApiActor,
    Path(id): Path<String>,
    Body(input): Body<CustomerInput>,
) -> ApiResult<Response> {
    Ok(Json(
        state
            .services
            .update_customer(&who.actor, customer_id(&id)?, &input)
            .await?,
    )
    .into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    who: ApiActor,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .services
        .delete_customer(&who.actor, customer_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Reveals the encryption key (audited). A POST, so that it is never a
/// link a browser or proxy might prefetch or cache.
pub async fn reveal_key(
    State(state): State<AppState>,
    who: ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let key = state
        .services
        .reveal_encryption_key(&who.actor, customer_id(&id)?)
        .await?;
    let mut r = Json(json!({"encryption_key": key.as_ref().map(|k| k.expose())})).into_response();
    r.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(r)
}

pub async fn list_licenses(
    State(state): State<AppState>,
    who: ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let items = state
        .services
        .list_licenses(&who.actor, customer_id(&id)?)
        .await?;
    Ok(super::items(items, None).into_response())
}

pub async fn create_license(
    State(state): State<AppState>,
    who: ApiActor,
    Path(id): Path<String>,
    Body(input): Body<LicenseInput>,
) -> ApiResult<Response> {
    let l = state
        .services
        .create_license(&who.actor, customer_id(&id)?, &input)
        .await?;
    Ok((StatusCode::CREATED, Json(l)).into_response())
}

pub async fn get_license(
    State(state): State<AppState>,
    who: ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(
        state
            .services
            .get_license(&who.actor, license_id(&id)?)
            .await?,
    )
    .into_response())
}

pub async fn update_license(
    State(state): State<AppState>,
    who: ApiActor,
    Path(id): Path<String>,
    Body(input): Body<LicenseInput>,
) -> ApiResult<Response> {
    Ok(Json(
        state
            .services
            .update_license(&who.actor, license_id(&id)?, &input)
            .await?,
    )
    .into_response())
}
