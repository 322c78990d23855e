//! The client API (`/client/v1/…`) that installed backup clients talk to:
//! activate with username and code, then with the bearer token fetch the
//! policy, report backup runs and deactivate. Errors are problem documents
//! with stable codes (`invalid_credentials`, `seats_exhausted`, …).

use axum::extract::{FromRequestParts, State};
use axum::http::{StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::http::{ApiResult, AppState, Body, ClientIp, Problem, ProblemDocument, bearer_token};
use crate::service::ServiceError;
use crate::service::clients::{ActivateRequest, Activated, Policy, ReportInput, TrialRequest};

pub fn router() -> Router<AppState> {
    routes().router.fallback(|| async {
        Problem::new(StatusCode::NOT_FOUND, "not_found", "No such endpoint.")
    })
}

/// The path of every route of the client API (under `/client`), from the
/// same table the router is built from: tests walk it.
pub fn route_paths() -> Vec<&'static str> {
    routes().paths
}

fn routes() -> crate::http::RouteTable {
    crate::http::RouteTable::default()
        .route("/v1/activate", post(activate))
        .route("/v1/trial", post(trial))
        .route("/v1/policy", get(policy))
        .route("/v1/reports", post(report))
        .route("/v1/deactivate", post(deactivate))
}

/// The installation behind `Authorization: Bearer <client token>`.
pub struct Client(pub crate::service::clients::ClientSession);

impl FromRequestParts<AppState> for Client {
    type Rejection = Problem;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let unauth = || {
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "A valid client token is required.",
            )
        };
        let token = bearer_token(parts).ok_or_else(unauth)?;
        match state.services.client_by_token(token).await? {
            Some(n) => Ok(Client(n)),
            None => Err(unauth()),
        }
    }
}

#[utoipa::path(post, path = "/client/v1/activate", operation_id = "activate_client", tag = "client", summary = "Activate a backup client with username and activation code; takes a seat",
    request_body = ActivateRequest,
    responses((status = 201, description = "Activated: keep the token", body = Activated),
        (status = 401, description = "Unknown username or wrong code (code invalid_credentials)", body = ProblemDocument),
        (status = 409, description = "seats_exhausted, invite_used, invite_expired, license_inactive or license_expired", body = ProblemDocument),
        (status = 422, description = "Invalid input", body = ProblemDocument),
        (status = 429, description = "Too many failures (code rate_limited); see Retry-After", body = ProblemDocument)))]
#[tracing::instrument(name = "client.activate", skip_all)]
pub async fn activate(
    State(state): State<AppState>,
    ip: ClientIp,
    Body(req): Body<ActivateRequest>,
) -> ApiResult<Response> {
    let a = state
        .services
        .activate(&req, ip.0)
        .await
        .map_err(|e| match e {
            // A client signs in with a username and a code, not a password.
            ServiceError::InvalidCredentials => Problem::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "Unknown username or wrong activation code.",
            ),
            e => e.into(),
        })?;
    Ok((StatusCode::CREATED, Json(a)).into_response())
}

#[utoipa::path(post, path = "/client/v1/trial", operation_id = "start_client_trial", tag = "client", summary = "Start a trial without an invite (own trial license, one seat)",
    request_body = TrialRequest,
    responses((status = 201, description = "Trial started: keep the token", body = Activated), (status = 422, description = "Invalid input", body = ProblemDocument), (status = 429, description = "Too many attempts", body = ProblemDocument)))]
#[tracing::instrument(name = "client.trial", skip_all)]
pub async fn trial(
    State(state): State<AppState>,
    ip: ClientIp,
    Body(req): Body<TrialRequest>,
) -> ApiResult<Response> {
    let a = state.services.start_trial(&req, ip.0).await?;
    Ok((StatusCode::CREATED, Json(a)).into_response())
}

#[utoipa::path(get, path = "/client/v1/policy", operation_id = "get_client_policy", tag = "client", summary = "The client's policy: retention, limits, license state, encryption key",
    responses((status = 200, description = "The policy", body = Policy), (status = 401, description = "No valid client token", body = ProblemDocument)),
    security(("bearer" = [])))]
#[tracing::instrument(name = "client.policy", skip_all, fields(installation = %client.0.installation_id()))]
pub async fn policy(State(state): State<AppState>, client: Client) -> ApiResult<Response> {
    let mut r = Json(state.services.client_policy(&client.0).await?).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(r)
}

#[utoipa::path(post, path = "/client/v1/reports", operation_id = "report_backup_run", tag = "client", summary = "Report one backup run (accepted also for expired or suspended licenses)",
    request_body = ReportInput,
    responses((status = 204, description = "Stored"), (status = 401, description = "No valid client token", body = ProblemDocument), (status = 422, description = "Invalid report", body = ProblemDocument)),
    security(("bearer" = [])))]
#[tracing::instrument(name = "client.report", skip_all, fields(installation = %client.0.installation_id()))]
pub async fn report(
    State(state): State<AppState>,
    client: Client,
    Body(input): Body<ReportInput>,
) -> ApiResult<StatusCode> {
    state.services.client_report(&client.0, &input).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/client/v1/deactivate", operation_id = "deactivate_client", tag = "client", summary = "Leave: the installation ends and its seat is freed",
    responses((status = 204, description = "Deactivated"), (status = 401, description = "No valid client token", body = ProblemDocument)),
    security(("bearer" = [])))]
#[tracing::instrument(name = "client.deactivate", skip_all, fields(installation = %client.0.installation_id()))]
pub async fn deactivate(
    State(state): State<AppState>,
    ip: ClientIp,
    client: Client,
) -> ApiResult<StatusCode> {
    state.services.client_deactivate(&client.0, ip.0).await?;
    Ok(StatusCode::NO_CONTENT)
}
