//! The caller's own account: TOTP enrolment, passkeys (listed and removed;
//! registered in the console), sessions and API tokens; and
//! the admins' switches that require two factors and end an operator's
//! sessions.

use crate::http::Path;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::ApiActor;
use crate::domain::{OperatorId, Secret, VendorId};
use crate::http::{ApiResult, AppState, Body, ProblemDocument};
use crate::service::passkeys::PasskeyInfo;
use crate::service::two_factor::{SessionInfo, TotpEnrolment};
use crate::service::{Page, path_id};

#[utoipa::path(post, path = "/api/v1/me/totp", operation_id = "start_totp_enrolment", tag = "me", summary = "Start setting up TOTP: a new secret, not active until confirmed", responses((status = 201, description = "The secret and its otpauth URL (for a QR code)", body = TotpEnrolment), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 409, description = "`totp_already_enabled`", body = ProblemDocument)), security(("bearer" = [])))]
pub async fn start_totp(
    State(state): State<AppState>,
    who: ApiActor,
) -> ApiResult<(StatusCode, Json<TotpEnrolment>)> {
    let e = state.services.start_totp(&who.actor).await?;
    Ok((StatusCode::CREATED, Json(e)))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct ConfirmRequest {
    /// A current six-digit code from the authenticator app.
    #[schema(value_type = String)]
    code: Secret<String>,
}

/// Ten single-use recovery codes; shown this once, stored only hashed.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct RecoveryCodes {
    recovery_codes: Vec<String>,
}

#[utoipa::path(post, path = "/api/v1/me/totp/confirm", operation_id = "confirm_totp_enrolment", tag = "me", summary = "Confirm TOTP with a code: two-factor sign-in is on from now", request_body = ConfirmRequest, responses((status = 200, description = "Ten recovery codes, shown once", body = RecoveryCodes), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 409, description = "`totp_not_started` or `totp_already_enabled`", body = ProblemDocument), (status = 422, description = "Wrong code", body = ProblemDocument), (status = 429, description = "Too many wrong codes; see Retry-After", body = ProblemDocument)), security(("bearer" = [])))]
pub async fn confirm_totp(
    State(state): State<AppState>,
    who: ApiActor,
    Body(req): Body<ConfirmRequest>,
) -> ApiResult<Json<RecoveryCodes>> {
    let recovery_codes = state
        .services
        .confirm_totp(&who.actor, req.code.expose())
        .await?;
    Ok(Json(RecoveryCodes { recovery_codes }))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct DisableRequest {
    /// A current TOTP code or a recovery code…
    #[schema(value_type = Option<String>)]
    #[serde(default)]
    code: Option<Secret<String>>,
    /// …or the password.
    #[schema(value_type = Option<String>)]
    #[serde(default)]
    password: Option<Secret<String>>,
}

#[utoipa::path(delete, path = "/api/v1/me/totp", operation_id = "disable_totp", tag = "me", summary = "Turn TOTP off, proven with a current code or the password", request_body = DisableRequest, responses((status = 204, description = "Off; the recovery codes are gone"), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 404, description = "TOTP is not on", body = ProblemDocument), (status = 422, description = "Wrong code or password", body = ProblemDocument), (status = 429, description = "Too many attempts; see Retry-After", body = ProblemDocument)), security(("bearer" = [])))]
pub async fn disable_totp(
    State(state): State<AppState>,
    who: ApiActor,
    Body(req): Body<DisableRequest>,
) -> ApiResult<StatusCode> {
    state
        .services
        .disable_totp(
            &who.actor,
            req.code.as_ref().map(|c| c.expose().as_str()),
            req.password.as_ref().map(|p| p.expose().as_str()),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/me/sessions", operation_id = "list_my_sessions", tag = "me", summary = "Your signed-in console sessions and live API tokens", responses((status = 200, description = "Sessions and tokens, newest first", body = Page<SessionInfo>), (status = 401, description = "No valid bearer token", body = ProblemDocument)), security(("bearer" = [])))]
pub async fn sessions(
    State(state): State<AppState>,
    who: ApiActor,
) -> ApiResult<Json<Page<SessionInfo>>> {
    let current = state.services.api_token_id(&who.token).await?;
    let items = state
        .services
        .list_sessions(&who.actor, current.as_deref())
        .await?;
    Ok(Json(Page::all(items)))
}

#[utoipa::path(delete, path = "/api/v1/me/sessions/{id}", operation_id = "end_my_session", tag = "me", summary = "End one of your sessions or revoke one of your API tokens", params(("id" = String, Path, description = "Session or token id from the list")), responses((status = 204, description = "Ended"), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 404, description = "None of yours with this id", body = ProblemDocument)), security(("bearer" = [])))]
pub async fn end_session(
    State(state): State<AppState>,
    who: ApiActor,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.services.end_own_session(&who.actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/me/passkeys", operation_id = "list_my_passkeys", tag = "me", summary = "Your passkeys (WebAuthn): name, when added and last used", description = "Passkeys are registered in the console (a passkey needs the browser); here they are listed and removed, e.g. when a device is lost.", responses((status = 200, description = "Your passkeys, oldest first", body = Page<PasskeyInfo>), (status = 401, description = "No valid bearer token", body = ProblemDocument)), security(("bearer" = [])))]
pub async fn passkeys(
    State(state): State<AppState>,
    who: ApiActor,
) -> ApiResult<Json<Page<PasskeyInfo>>> {
    let items = state.services.passkeys(&who.actor).await?;
    Ok(Json(Page::all(items)))
}

#[utoipa::path(delete, path = "/api/v1/me/passkeys/{id}", operation_id = "remove_my_passkey", tag = "me", summary = "Remove one of your passkeys: it signs in no more", params(("id" = String, Path, description = "Passkey id from the list")), responses((status = 204, description = "Removed"), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 404, description = "None of yours with this id", body = ProblemDocument)), security(("bearer" = [])))]
pub async fn remove_passkey(
    State(state): State<AppState>,
    who: ApiActor,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.services.remove_passkey(&who.actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/operators/{id}/end-sessions", operation_id = "end_operator_sessions", tag = "operators", summary = "End every session and API token of an operator (admins)", params(("id" = uuid::Uuid, Path, description = "Operator id")), responses((status = 204, description = "Ended"), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 403, description = "Your role does not allow this", body = ProblemDocument), (status = 404, description = "Not found", body = ProblemDocument)), security(("bearer" = [])))]
pub async fn end_operator_sessions(
    State(state): State<AppState>,
    who: ApiActor,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = path_id::<OperatorId>(&id)?;
    state.services.end_all_sessions(&who.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct TwoFactorPolicy {
    /// Require two factors (TOTP) at sign-in.
    required: bool,
    /// One vendor's operators; absent: every operator.
    #[serde(default)]
    vendor_id: Option<String>,
}

#[utoipa::path(put, path = "/api/v1/security/two-factor", operation_id = "set_two_factor_policy", tag = "security", summary = "Require two factors of every operator or of one vendor's (admins)", description = "An operator who must have two factors and has none gets no API token (403 `totp_enrolment_required`) and is led to set up TOTP at the next console sign-in.", request_body = TwoFactorPolicy, responses((status = 204, description = "Saved"), (status = 401, description = "No valid bearer token", body = ProblemDocument), (status = 403, description = "Your role does not allow this", body = ProblemDocument), (status = 404, description = "No such vendor", body = ProblemDocument)), security(("bearer" = [])))]
pub async fn set_two_factor(
    State(state): State<AppState>,
    who: ApiActor,
    Body(req): Body<TwoFactorPolicy>,
) -> ApiResult<StatusCode> {
    let vendor = match req.vendor_id.as_deref() {
        Some(v) => Some(path_id::<VendorId>(v)?),
        None => None,
    };
    state
        .services
        .set_two_factor_required(&who.actor, vendor, req.required)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
