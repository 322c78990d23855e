//! The operator's own page: two-factor sign-in (set up with a QR code,
//! confirm, recovery codes shown once, turn off) and their sessions and
//! API tokens, each of which they can end.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};

use super::auth::TotpSetup;
use super::{AppState, CsrfForm, Ctx, FormErrors, Page, WebResult, render, render_status};
use crate::service::ServiceError;
use crate::service::passkeys::PasskeyInfo;
use crate::service::two_factor::{SessionInfo, TotpStatus};

#[derive(askama::Template)]
#[template(path = "me.html")]
struct MePage {
    page: Page,
    status: TotpStatus,
    setup: Option<TotpSetup>,
    recovery_codes: Vec<String>,
    sessions: Vec<SessionInfo>,
    passkeys: Vec<PasskeyInfo>,
    errors: FormErrors,
}

#[derive(serde::Deserialize, Default)]
pub struct MeQuery {
    #[serde(default)]
    done: Option<String>,
}

async fn me_page(
    state: &AppState,
    ctx: &Ctx,
    recovery_codes: Vec<String>,
    errors: FormErrors,
) -> WebResult<MePage> {
    let status = state.services.totp_status(&ctx.actor).await?;
    let sessions = state
        .services
        .list_sessions(&ctx.actor, Some(&ctx.session_id))
        .await?;
    let passkeys = state.services.passkeys(&ctx.actor).await?;
    Ok(MePage {
        page: Page::new(ctx),
        setup: status
            .pending
            .as_ref()
            .map(|(s, u)| TotpSetup::new(s.clone(), u)),
        status,
        recovery_codes,
        sessions,
        passkeys,
        errors,
    })
}

pub async fn show(State(state): State<AppState>, ctx: Ctx, Query(q): Query<MeQuery>) -> WebResult {
    let mut p = me_page(&state, &ctx, Vec::new(), FormErrors::new(ctx.lang)).await?;
    let flash = match q.done.as_deref() {
        Some("disabled") => Some("flash.totp_disabled"),
        Some("ended") => Some("flash.session_ended"),
        Some("passkey_added") => Some("flash.passkey_added"),
        Some("passkey_removed") => Some("flash.passkey_removed"),
        _ => None,
    };
    if let Some(f) = flash {
        p.page = p.page.with_flash(f);
    }
    render(&p)
}

pub async fn start_totp(
    State(state): State<AppState>,
    f: CsrfForm<serde::de::IgnoredAny>,
) -> WebResult {
    state.services.start_totp(&f.ctx.actor).await?;
    Ok(Redirect::to("/me#two-factor").into_response())
}

#[derive(serde::Deserialize, Default)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    password: String,
}

pub async fn confirm_totp(State(state): State<AppState>, f: CsrfForm<CodeForm>) -> WebResult {
    let ctx = f.ctx;
    match state.services.confirm_totp(&ctx.actor, &f.form.code).await {
        Ok(codes) => {
            let mut p = me_page(&state, &ctx, codes, FormErrors::new(ctx.lang)).await?;
            p.page = p.page.with_flash("flash.totp_enabled");
            render(&p)
        }
        Err(e @ (ServiceError::Invalid(_) | ServiceError::Conflict { .. })) => {
            let errors = FormErrors::from_service(ctx.lang, e)?;
            let p = me_page(&state, &ctx, Vec::new(), errors).await?;
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &p)
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn disable_totp(State(state): State<AppState>, f: CsrfForm<CodeForm>) -> WebResult {
    let ctx = f.ctx;
    let code = Some(f.form.code.as_str()).filter(|c| !c.trim().is_empty());
    let password = Some(f.form.password.as_str()).filter(|p| !p.is_empty());
    match state
        .services
        .disable_totp(&ctx.actor, code, password)
        .await
    {
        Ok(()) => Ok(Redirect::to("/me?done=disabled").into_response()),
        Err(e @ ServiceError::Invalid(_)) => {
            let errors = FormErrors::from_service(ctx.lang, e)?;
            let p = me_page(&state, &ctx, Vec::new(), errors).await?;
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &p)
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn end_session(
    State(state): State<AppState>,
    Path(id): Path<String>,
    f: CsrfForm<serde::de::IgnoredAny>,
) -> WebResult {
    state.services.end_own_session(&f.ctx.actor, &id).await?;
    if id == f.ctx.session_id {
        return Ok(Redirect::to("/login").into_response());
    }
    Ok(Redirect::to("/me?done=ended").into_response())
}
