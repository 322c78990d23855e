//! The JSON admin API (`/api/v1/…`), bearer-token authenticated. Errors are
//! RFC 9457 problem documents with a stable `code` member. Every list
//! answers `{"items": [...], "next_cursor": …}`.

pub mod customers;
pub mod exports;
pub mod import;
pub mod installations;
pub mod invites;
pub mod me;
pub mod monitoring;
pub mod operators;
pub mod tokens;
pub mod usage;
pub mod vendors;
pub mod webhooks;

use axum::extract::{FromRequestParts, State};
use axum::http::{StatusCode, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::domain::rfc3339;
use crate::http::{ApiResult, AppState, Body, Problem, ProblemDocument, bearer_token, client_ip};
use crate::service::audit::AuditEntry;
use crate::service::{Actor, Page};

/// The admin API. Every request with a bearer token is authenticated
/// once, by [`authenticate`], which also decides by the method alone
/// whether it needs the `read` or the `write` scope.
pub fn router(state: AppState) -> Router<AppState> {
    let (router, _) = routes();
    router
        .route_layer(axum::middleware::from_fn_with_state(state, authenticate))
        .fallback(|| async {
            Problem::new(StatusCode::NOT_FOUND, "not_found", "No such endpoint.")
        })
}

/// The path of every route of the admin API (under `/api`), from the
/// same table the router is built from: tests walk it.
pub fn route_paths() -> Vec<&'static str> {
    routes().1
}

fn routes() -> (Router<AppState>, Vec<&'static str>) {
    let t = crate::http::RouteTable::default()
        .route("/v1/auth/token", post(issue_token).delete(revoke_token))
        .route("/v1/tokens", get(tokens::list).post(tokens::create))
        .route("/v1/tokens/{id}", axum::routing::delete(tokens::revoke))
        .route("/v1/webhooks", get(webhooks::list).post(webhooks::create))
        .route(
            "/v1/webhooks/{id}",
            get(webhooks::get)
                .put(webhooks::update)
                .delete(webhooks::delete),
        )
        .route("/v1/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route("/v1/webhooks/{id}/test", post(webhooks::test))
        .route("/v1/webhooks/{id}/attempts", get(webhooks::attempts))
        .route("/v1/webhooks/{id}/rotate", post(webhooks::rotate))
        .route(
            "/v1/webhooks/{id}/deliveries/{delivery}/redeliver",
            post(webhooks::redeliver),
        )
        .route("/v1/auth/password-reset", post(request_password_reset))
        .route(
            "/v1/auth/password-reset/confirm",
            post(confirm_password_reset),
        )
        .route("/v1/me/totp", post(me::start_totp).delete(me::disable_totp))
        .route("/v1/me/totp/confirm", post(me::confirm_totp))
        .route("/v1/me/passkeys", get(me::passkeys))
        .route(
            "/v1/me/passkeys/{id}",
            axum::routing::delete(me::remove_passkey),
        )
        .route("/v1/me/sessions", get(me::sessions))
        .route(
            "/v1/me/sessions/{id}",
            axum::routing::delete(me::end_session),
        )
        .route(
            "/v1/operators/{id}/end-sessions",
            post(me::end_operator_sessions),
        )
        .route(
            "/v1/security/two-factor",
            axum::routing::put(me::set_two_factor),
        )
        .route("/v1/vendors", get(vendors::list).post(vendors::create))
        .route("/v1/vendors/{id}", get(vendors::get).put(vendors::update))
        .route(
            "/v1/operators",
            get(operators::list).post(operators::create),
        )
        .route(
            "/v1/operators/{id}",
            get(operators::get).put(operators::update),
        )
        .route("/v1/audit", get(audit))
        .route(
            "/v1/customers",
            get(customers::list).post(customers::create),
        )
        .route(
            "/v1/customers/{id}",
            get(customers::get)
                .put(customers::update)
                .delete(customers::delete),
        )
        .route(
            "/v1/customers/{id}/encryption-key/reveal",
            post(customers::reveal_key),
        )
        .route(
            "/v1/customers/{id}/licenses",
            get(customers::list_licenses).post(customers::create_license),
        )
        .route(
            "/v1/licenses/{id}",
            get(customers::get_license).put(customers::update_license),
        )
        .route(
            "/v1/licenses/{id}/invites",
            get(invites::list).post(invites::create),
        )
        .route("/v1/invites/send", post(invites::send))
        .route("/v1/monitoring", get(monitoring::list))
        .route("/v1/alerts", get(monitoring::alerts))
        .route("/v1/monitoring.csv", get(monitoring::csv))
        .route("/v1/usage", get(usage::get))
        .route("/v1/import/customers", post(import::customers))
        .route("/v1/customers.csv", get(customers::export))
        .route("/v1/licenses.csv", get(exports::licenses))
        .route("/v1/invites.csv", get(exports::invites))
        .route("/v1/installations.csv", get(exports::installations))
        .route("/v1/installations", get(installations::list))
        .route("/v1/installations/{id}", get(installations::get))
        .route(
            "/v1/installations/{id}/history",
            get(installations::history),
        )
        .route(
            "/v1/installations/{id}/snapshots",
            get(installations::snapshots),
        )
        .route(
            "/v1/installations/{id}/deactivate",
            post(installations::deactivate),
        )
        .route(
            "/v1/installations/{id}/delete-backup-data",
            post(installations::delete_backup_data),
        )
        .route("/v1/trials", get(installations::trials))
        .route(
            "/v1/licenses/{id}/connect-trial",
            post(installations::connect_trial),
        )
        .route(
            "/v1/invites/{id}",
            get(invites::get).delete(invites::revoke),
        );
    (t.router, t.paths)
}

/// Looks up the bearer token (if any) before any handler or extractor
/// runs, and refuses a token without the scope the method needs: `read`
/// for GET/HEAD/OPTIONS, `write` for every other method — the one place
/// this is decided. No token, or one that is not live, passes on without
/// an actor: [`ApiActor`] answers 401 where one is needed.
async fn authenticate(
    State(state): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (mut parts, body) = req.into_parts();
    if let Some(token) = bearer_token(&parts).map(str::to_string) {
        let ip = client_ip(&parts, state.services.config.trust_forwarded_for);
        match state.services.token_actor(&token, ip).await {
            Ok(Some(actor)) => {
                let needed = crate::domain::api_token::scope_for_method(parts.method.as_str());
                if let Err(e) = actor.require_scope(needed) {
                    return Problem::from(e).into_response();
                }
                parts.extensions.insert(Authenticated(actor, token));
            }
            Ok(None) => {}
            Err(e) => return Problem::from(e).into_response(),
        }
    }
    next.run(axum::extract::Request::from_parts(parts, body))
        .await
}

#[derive(Clone)]
struct Authenticated(Actor, String);

/// The caller behind `Authorization: Bearer …`.
pub struct ApiActor {
    pub actor: Actor,
    pub token: String,
}

impl FromRequestParts<AppState> for ApiActor {
    type Rejection = Problem;
    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, Problem> {
        match parts.extensions.get::<Authenticated>() {
            Some(Authenticated(actor, token)) => Ok(ApiActor {
                actor: actor.clone(),
                token: token.clone(),
            }),
            None => Err(Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "A valid bearer token is required.",
            )),
        }
    }
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct TokenRequest {
    email: String,
    #[schema(value_type = String)]
    password: crate::domain::Secret<String>,
    /// For an operator with two-factor sign-in on: a current TOTP code
    /// or one of their recovery codes.
    #[schema(value_type = Option<String>)]
    #[serde(default)]
    totp: Option<crate::domain::Secret<String>>,
}

/// A new bearer token; it is shown once and stored only hashed.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    token: String,
    token_type: &'static str,
    expires_at: String,
}

#[utoipa::path(post, path = "/api/v1/auth/token", operation_id = "issue_token", tag = "auth", summary = "Exchange e-mail and password for a bearer token", request_body = TokenRequest, responses((status = 201, description = "A new token", body = TokenResponse), (status = 401, description = "`invalid_credentials` (wrong e-mail or password); `totp_required` (right password, two-factor sign-in is on: send `totp` too; an operator whose only second factor is a passkey gets it too and creates tokens in the console); `totp_invalid` (wrong, expired or already used code)", body = ProblemDocument), (status = 403, description = "`totp_enrolment_required`: two factors are required of this operator and none is set up; sign in to the console once to set up TOTP", body = ProblemDocument), (status = 429, description = "Too many failures; see Retry-After", body = ProblemDocument)))]
async fn issue_token(
    State(state): State<AppState>,
    crate::http::ClientOrigin(origin): crate::http::ClientOrigin,
    Body(req): Body<TokenRequest>,
) -> ApiResult<Response> {
    let (token, expires_at) = state
        .services
        .issue_api_token(
            &req.email,
            req.password.expose(),
            req.totp.as_ref().map(|t| t.expose().as_str()),
            &origin,
        )
        .await?;
    let body = TokenResponse {
        token: token.expose().clone(),
        token_type: "Bearer",
        expires_at: rfc3339(expires_at),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[utoipa::path(delete, path = "/api/v1/auth/token", operation_id = "revoke_token", tag = "auth", summary = "Revoke the token used for this request", responses((status = 204, description = "Revoked"), (status = 401, description = "No valid bearer token", body = ProblemDocument)), security(("bearer" = [])))]
async fn revoke_token(State(state): State<AppState>, who: ApiActor) -> ApiResult<StatusCode> {
    state
        .services
        .revoke_api_token(&who.token, &who.actor)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct PasswordResetRequest {
    email: String,
}

/// The same answer whether or not an operator has the address.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct PasswordResetAccepted {
    status: &'static str,
}

#[utoipa::path(post, path = "/api/v1/auth/password-reset", operation_id = "request_password_reset", tag = "auth", summary = "Ask for a password reset link by e-mail (the same answer whether or not the address is an operator's)", request_body = PasswordResetRequest, responses((status = 202, description = "If an operator has this address, a single-use link valid 30 minutes is on its way", body = PasswordResetAccepted), (status = 429, description = "Too many requests from this address or for this e-mail; see Retry-After", body = ProblemDocument)))]
async fn request_password_reset(
    State(state): State<AppState>,
    crate::http::ClientIp(ip): crate::http::ClientIp,
    Body(req): Body<PasswordResetRequest>,
) -> ApiResult<Response> {
    state
        .services
        .request_password_reset(&req.email, ip)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(PasswordResetAccepted {
            status: "If an operator has this address, a reset link is on its way.",
        }),
    )
        .into_response())
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct PasswordResetConfirm {
    /// The token from the e-mailed link (`…/password-reset/<token>`).
    #[schema(value_type = String)]
    token: crate::domain::Secret<String>,
    #[schema(value_type = String)]
    password: crate::domain::Secret<String>,
}

#[utoipa::path(post, path = "/api/v1/auth/password-reset/confirm", operation_id = "confirm_password_reset", tag = "auth", summary = "Set a new password with a reset link's token; ends every session and API token of the operator", request_body = PasswordResetConfirm, responses((status = 204, description = "The password is set"), (status = 409, description = "`reset_link_invalid`: unknown, used or expired", body = ProblemDocument), (status = 422, description = "The password is not acceptable", body = ProblemDocument)))]
async fn confirm_password_reset(
    State(state): State<AppState>,
    crate::http::ClientIp(ip): crate::http::ClientIp,
    Body(req): Body<PasswordResetConfirm>,
) -> ApiResult<StatusCode> {
    state
        .services
        .reset_password(req.token.expose(), &req.password, ip)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Audit filters: `action` prefix (e.g. `signin.`), `cursor` (an id from
/// the previous page), `limit` (1–500, default 100).
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    action: Option<String>,
    cursor: Option<String>,
    /// 100 when left out.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/audit", operation_id = "list_audit_entries", tag = "audit", summary = "The audit log, newest first", params(AuditQuery), responses((status = 200, description = "A page of audit rows", body = Page<AuditEntry>), (status = 401, description = "No valid bearer token", body = ProblemDocument)), security(("bearer" = [])))]
async fn audit(
    State(state): State<AppState>,
    who: ApiActor,
    crate::http::Query(q): crate::http::Query<AuditQuery>,
) -> ApiResult<Json<Page<AuditEntry>>> {
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    let rows = state
        .services
        .list_audit(&who.actor, q.action.as_deref(), q.cursor.as_deref(), limit)
        .await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.id.clone()))
        .flatten();
    Ok(Json(Page {
        items: rows,
        next_cursor: next,
    }))
}
