//! Settings (admins): what the server runs with, and a test e-mail.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};

use super::{AppState, CsrfForm, Ctx, FormErrors, Page, WebResult, render, render_status};

#[derive(askama::Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    page: Page,
    standard_gb: i64,
    server_gb: i64,
    mail: String,
    mail_from: String,
    install_url: String,
    database: String,
    test_to: String,
    errors: FormErrors,
    /// The service's name as shown (or typed); empty while unnamed.
    service_name: String,
    service_unnamed: bool,
    name_errors: FormErrors,
    /// Two factors are required of every operator.
    two_factor: bool,
    /// `CC_BACKUP_DIR`, when scheduled backups are on.
    backup_dir: Option<String>,
    backup_keep: usize,
    backup_hour: i64,
    backup: Option<crate::service::backup::BackupStatus>,
}

#[derive(serde::Deserialize, Default)]
pub struct SettingsQuery {
    #[serde(default)]
    sent: Option<String>,
    #[serde(default)]
    named: Option<String>,
}

async fn settings_page(
    state: &AppState,
    ctx: &Ctx,
    test_to: String,
    errors: FormErrors,
) -> WebResult<SettingsPage> {
    let c = &state.services.config;
    let named = state.services.service_name().await?;
    let two_factor = state.services.two_factor_policy(&ctx.actor, None).await?.0;
    let backup = state.services.backup_status(&ctx.actor).await?;
    Ok(SettingsPage {
        two_factor,
        backup_dir: c.backup_dir.as_ref().map(|d| d.display().to_string()),
        backup_keep: c.backup_keep,
        backup_hour: c.backup_hour,
        backup,
        page: Page::new(ctx),
        standard_gb: c.standard_seat_gb,
        server_gb: c.server_seat_gb,
        mail: if c.smtp_url.is_some() {
            "SMTP (CC_SMTP_URL)".into()
        } else {
            format!(".eml → {}", c.data_dir.join("outbox").display())
        },
        mail_from: c.mail_from.clone(),
        install_url: c.install_url.clone(),
        database: state.services.database_name().into(),
        test_to,
        errors,
        service_unnamed: named.is_none(),
        service_name: named.unwrap_or_default(),
        name_errors: FormErrors::new(ctx.lang),
    })
}

pub async fn show(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<SettingsQuery>,
) -> WebResult {
    ctx.actor.require_admin()?;
    let mut p = settings_page(
        &state,
        &ctx,
        ctx.actor.email.clone(),
        FormErrors::new(ctx.lang),
    )
    .await?;
    if q.sent.is_some() {
        p.page = p.page.with_flash("flash.test_mail_queued");
    }
    if q.named.is_some() {
        p.page = p.page.with_flash("flash.service_named");
    }
    render(&p)
}

#[derive(serde::Deserialize, Default)]
pub struct TestMailForm {
    #[serde(default)]
    to: String,
}

pub async fn test_mail(State(state): State<AppState>, f: CsrfForm<TestMailForm>) -> WebResult {
    let ctx = f.ctx;
    match state.services.send_test_mail(&ctx.actor, &f.form.to).await {
        Ok(()) => Ok(Redirect::to("/settings?sent=1").into_response()),
        Err(e) => {
            let errors = FormErrors::from_service(ctx.lang, e)?;
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &settings_page(&state, &ctx, f.form.to.clone(), errors).await?,
            )
        }
    }
}

#[derive(serde::Deserialize, Default)]
pub struct TwoFactorForm {
    #[serde(default)]
    required: Option<String>,
}

/// Requires (or not) two factors of every operator.
pub async fn two_factor(State(state): State<AppState>, f: CsrfForm<TwoFactorForm>) -> WebResult {
    state
        .services
        .set_two_factor_required(&f.ctx.actor, None, f.form.required.is_some())
        .await?;
    Ok(Redirect::to("/settings").into_response())
}

#[derive(serde::Deserialize, Default)]
pub struct ServiceNameForm {
    #[serde(default)]
    service_name: String,
}

/// Names the service: the default vendor's name, which customers see.
pub async fn service_name(
    State(state): State<AppState>,
    f: CsrfForm<ServiceNameForm>,
) -> WebResult {
    let ctx = f.ctx;
    match state
        .services
        .set_service_name(&ctx.actor, &f.form.service_name)
        .await
    {
        Ok(_) => Ok(Redirect::to("/settings?named=1").into_response()),
        Err(e) => {
            let name_errors = FormErrors::from_service(ctx.lang, e)?;
            let mut p = settings_page(
                &state,
                &ctx,
                ctx.actor.email.clone(),
                FormErrors::new(ctx.lang),
            )
            .await?;
            p.service_name = f.form.service_name.clone();
            p.name_errors = name_errors;
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &p)
        }
    }
}
