//! `/api/v1/customers` and `/api/v1/licenses`.

use crate::http::Path;
use axum::Json;
use axum::extract::State;

use crate::http::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::ApiActor;
use crate::domain::{CustomerId, LicenseId, VendorId};
use crate::http::AppState;
use crate::http::{ApiResult, Body, ProblemDocument};
use crate::service::Page;
use crate::service::ServiceError;
use crate::service::customers::{Customer, CustomerInput};
use crate::service::licenses::{License, LicenseInput};
use crate::service::path_id;

/// List filters: `vendor_id` (admins), `q` (name, VAT id, prefix),
/// `cursor` (from the previous page's `next_cursor`), `limit` (1–200).
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    #[param(format = Uuid)]
    vendor_id: Option<String>,
    q: Option<String>,
    cursor: Option<String>,
    /// 50 when left out.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/customers", operation_id = "list_customers", tag = "customers", summary = "Customers by name, paged, filtered", params(ListQuery), responses((status = 200, description = "A page of customers", body = Page<Customer>), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 404, description = "Not found (or another vendor's)", body = ProblemDocument), (status = 422, description = "Invalid input; `errors` lists the fields", body = ProblemDocument)), security(("bearer" = [])))]
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

#[utoipa::path(post, path = "/api/v1/customers", operation_id = "create_customer", tag = "customers", summary = "Create a customer", request_body = CustomerInput, responses((status = 201, description = "Created", body = Customer), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 403, description = "Your role does not allow this", body = ProblemDocument), (status = 404, description = "Not found (or another vendor's)", body = ProblemDocument), (status = 422, description = "Invalid input; `errors` lists the fields", body = ProblemDocument)), security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    who: ApiActor,
    Body(input): Body<CustomerInput>,
) -> ApiResult<Response> {
    let c = state.services.create_customer(&who.actor, &input).await?;
    Ok((StatusCode::CREATED, Json(c)).into_response())
}

#[utoipa::path(get, path = "/api/v1/customers/{id}", operation_id = "get_customer", tag = "customers", summary = "One customer (the encryption key only as set or not)", params(("id" = uuid::Uuid, Path, description = "Customer id")), responses((status = 200, description = "The customer", body = Customer), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 404, description = "Not found (or another vendor's)", body = ProblemDocument)), security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    who: ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(
        state
            .services
            .get_customer(&who.actor, path_id::<CustomerId>(&id)?)
            .await?,
    )
    .into_response())
}

#[utoipa::path(put, path = "/api/v1/customers/{id}", operation_id = "update_customer", tag = "customers", summary = "Save a customer (an absent encryption_key keeps the key)", params(("id" = uuid::Uuid, Path, description = "Customer id")), request_body = CustomerInput, responses((status = 200, description = "Saved", body = Customer), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 403, description = "Your role does not allow this", body = ProblemDocument), (status = 404, description = "Not found (or another vendor's)", body = ProblemDocument), (status = 422, description = "Invalid input; `errors` lists the fields", body = ProblemDocument)), security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    who: ApiActor,
    Path(id): Path<String>,
    Body(input): Body<CustomerInput>,
) -> ApiResult<Response> {
    Ok(Json(
        state
            .services
            .update_customer(&who.actor, path_id::<CustomerId>(&id)?, &input)
            .await?,
    )
    .into_response())
}

#[utoipa::path(delete, path = "/api/v1/customers/{id}", operation_id = "delete_customer", tag = "customers", summary = "Delete a customer and its licenses (refused while seats are in use)", params(("id" = uuid::Uuid, Path, description = "Customer id")), responses((status = 204, description = "Deleted"), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 403, description = "Your role does not allow this", body = ProblemDocument), (status = 404, description = "Not found (or another vendor's)", body = ProblemDocument), (status = 409, description = "Conflicts with the current state", body = ProblemDocument)), security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    who: ApiActor,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .services
        .delete_customer(&who.actor, path_id::<CustomerId>(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The revealed encryption key (`null` when none is set).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct RevealedKey {
    encryption_key: Option<String>,
}

/// Reveals the encryption key (audited). A POST, so that it is never a
/// link a browser or proxy might prefetch or cache.
#[utoipa::path(post, path = "/api/v1/customers/{id}/encryption-key/reveal", operation_id = "reveal_encryption_key", tag = "customers", summary = "Reveal the encryption key (audited)", params(("id" = uuid::Uuid, Path, description = "Customer id")), responses((status = 200, description = "The key, or null", body = RevealedKey), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 403, description = "Your role does not allow this", body = ProblemDocument), (status = 404, description = "Not found (or another vendor's)", body = ProblemDocument)), security(("bearer" = [])))]
pub async fn reveal_key(
    State(state): State<AppState>,
    who: ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let key = state
        .services
        .reveal_encryption_key(&who.actor, path_id::<CustomerId>(&id)?)
        .await?;
    let mut r = Json(RevealedKey {
        encryption_key: key.map(|k| k.into_inner()),
    })
    .into_response();
    r.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(r)
}

#[utoipa::path(get, path = "/api/v1/customers/{id}/licenses", operation_id = "list_licenses", tag = "licenses", summary = "A customer's licenses", params(("id" = uuid::Uuid, Path, description = "Customer id")), responses((status = 200, description = "The licenses", body = Page<License>), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 404, description = "Not found (or another vendor's)", body = ProblemDocument)), security(("bearer" = [])))]
pub async fn list_licenses(
    State(state): State<AppState>,
    who: ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let items = state
        .services
        .list_licenses(&who.actor, path_id::<CustomerId>(&id)?)
        .await?;
    Ok(Json(Page::all(items)).into_response())
}

#[utoipa::path(post, path = "/api/v1/customers/{id}/licenses", operation_id = "create_license", tag = "licenses", summary = "Add a license to a customer", params(("id" = uuid::Uuid, Path, description = "Customer id")), request_body = LicenseInput, responses((status = 201, description = "Created", body = License), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 403, description = "Your role does not allow this", body = ProblemDocument), (status = 404, description = "Not found (or another vendor's)", body = ProblemDocument), (status = 422, description = "Invalid input; `errors` lists the fields", body = ProblemDocument)), security(("bearer" = [])))]
pub async fn create_license(
    State(state): State<AppState>,
    who: ApiActor,
    Path(id): Path<String>,
    Body(input): Body<LicenseInput>,
) -> ApiResult<Response> {
    let l = state
        .services
        .create_license(&who.actor, path_id::<CustomerId>(&id)?, &input)
        .await?;
    Ok((StatusCode::CREATED, Json(l)).into_response())
}

#[utoipa::path(get, path = "/api/v1/licenses/{id}", operation_id = "get_license", tag = "licenses", summary = "One license; state is Expired once Valid to has passed", params(("id" = uuid::Uuid, Path, description = "License id (its Number)")), responses((status = 200, description = "The license", body = License), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 404, description = "Not found (or another vendor's)", body = ProblemDocument)), security(("bearer" = [])))]
pub async fn get_license(
    State(state): State<AppState>,
    who: ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(
        state
            .services
            .get_license(&who.actor, path_id::<LicenseId>(&id)?)
            .await?,
    )
    .into_response())
}

#[utoipa::path(put, path = "/api/v1/licenses/{id}", operation_id = "update_license", tag = "licenses", summary = "Save a license; seat counts are totals and cannot go below the seats in use", params(("id" = uuid::Uuid, Path, description = "License id (its Number)")), request_body = LicenseInput, responses((status = 200, description = "Saved", body = License), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 403, description = "Your role does not allow this", body = ProblemDocument), (status = 404, description = "Not found (or another vendor's)", body = ProblemDocument), (status = 409, description = "Seats below those in use (code seats_below_used)", body = ProblemDocument), (status = 422, description = "Invalid input; `errors` lists the fields", body = ProblemDocument)), security(("bearer" = [])))]
pub async fn update_license(
    State(state): State<AppState>,
    who: ApiActor,
    Path(id): Path<String>,
    Body(input): Body<LicenseInput>,
) -> ApiResult<Response> {
    Ok(Json(
        state
            .services
            .update_license(&who.actor, path_id::<LicenseId>(&id)?, &input)
            .await?,
    )
    .into_response())
}

/// Query of the customer export.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Admins: one vendor's customers only.
    #[serde(default)]
    pub vendor_id: Option<String>,
    /// `true`: start with a UTF-8 byte-order mark (for Excel).
    #[serde(default)]
    pub bom: Option<bool>,
}

#[utoipa::path(get, path = "/api/v1/customers.csv", operation_id = "export_customers_csv", tag = "customers",
    summary = "Every customer the caller may see as CSV (streamed; the columns are the API's field names, so the file imports again with POST /api/v1/import/customers; never the encryption key; a cell starting with =, +, - or @ gets a leading ')",
    params(ExportQuery),
    responses((status = 200, description = "The CSV file", content_type = "text/csv", body = String), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 404, description = "No such vendor", body = ProblemDocument)),
    security(("bearer" = [])))]
pub async fn export(
    State(state): State<AppState>,
    who: ApiActor,
    crate::http::Query(q): crate::http::Query<ExportQuery>,
) -> ApiResult<Response> {
    let vendor = match q
        .vendor_id
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        None => None,
        Some(v) => Some(crate::service::path_id(v)?),
    };
    Ok(crate::http::csv::customers_response(
        state.services.clone(),
        who.actor,
        vendor,
        q.bom.unwrap_or(false),
    ))
}
