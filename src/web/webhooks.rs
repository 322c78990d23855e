//! Settings → Webhooks (#16): one's vendor's endpoints (administrators:
//! every one, and they choose the vendor of one they make, or every
//! vendor's), making one (its secret shown once), changing URL, events and
//! enabled, rotating the secret, deleting, Send test event, Redeliver, and
//! the delivery log.
//! Plain forms: everything works without JavaScript.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};

use super::{AppState, CsrfForm, Ctx, FormErrors, Page, WebResult, render, render_status};
use crate::domain::webhook::EVENTS;
use crate::service::vendors::Vendor;
use crate::service::webhooks::{Attempt, Delivery, Endpoint, EndpointInput};

#[derive(askama::Template)]
#[template(path = "webhooks.html")]
struct ListPage {
    page: Page,
    endpoints: Vec<Endpoint>,
    form: HookForm,
    errors: FormErrors,
    /// A new endpoint's secret: shown this once.
    created: Option<String>,
    events: &'static [&'static str],
    /// Administrators choose whose endpoint they make (none: global).
    vendors: Vec<Vendor>,
}

#[derive(askama::Template)]
#[template(path = "webhook.html")]
struct OnePage {
    page: Page,
    endpoint: Endpoint,
    form: HookForm,
    errors: FormErrors,
    /// A rotated secret: shown this once.
    rotated: Option<String>,
    deliveries: Vec<Delivery>,
    attempts: Vec<Attempt>,
    events: &'static [&'static str],
}

/// The endpoint form: URL, the events (checkboxes), enabled.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct HookForm {
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub events: Vec<String>,
    #[serde(default)]
    pub enabled: Option<String>,
    /// Only when making one, and only for administrators: the vendor whose
    /// events it receives; empty for every vendor's (global).
    #[serde(default)]
    pub vendor_id: String,
}

impl HookForm {
    fn of(e: &Endpoint) -> HookForm {
        HookForm {
            url: e.url.clone(),
            events: e.events.clone(),
            enabled: e.enabled.then(|| "on".to_string()),
            vendor_id: e.vendor_id.clone().unwrap_or_default(),
        }
    }

    fn input(&self) -> EndpointInput {
        EndpointInput {
            url: self.url.clone(),
            events: self.events.clone(),
            enabled: Some(self.enabled.is_some()),
            vendor_id: Some(self.vendor_id.trim().to_string()).filter(|v| !v.is_empty()),
        }
    }

    /// For the template: whether an event's box is ticked.
    pub fn has(&self, event: &&str) -> bool {
        self.events.iter().any(|e| e == event)
    }
}

async fn list_page(
    state: &AppState,
    ctx: &Ctx,
    form: HookForm,
    errors: FormErrors,
    created: Option<String>,
) -> WebResult<ListPage> {
    Ok(ListPage {
        page: Page::new(ctx),
        endpoints: state.services.list_webhooks(&ctx.actor).await?,
        form,
        errors,
        created,
        events: EVENTS,
        vendors: if ctx.actor.is_admin() {
            state.services.list_vendors(&ctx.actor).await?
        } else {
            Vec::new()
        },
    })
}

async fn one_page(
    state: &AppState,
    ctx: &Ctx,
    id: &str,
    form: Option<HookForm>,
    errors: FormErrors,
    rotated: Option<String>,
) -> WebResult<OnePage> {
    let endpoint = state.services.get_webhook(&ctx.actor, id).await?;
    Ok(OnePage {
        page: Page::new(ctx),
        form: form.unwrap_or_else(|| HookForm::of(&endpoint)),
        deliveries: state
            .services
            .list_webhook_deliveries(&ctx.actor, id)
            .await?,
        attempts: state.services.list_webhook_attempts(&ctx.actor, id).await?,
        endpoint,
        errors,
        rotated,
        events: EVENTS,
    })
}

pub async fn list(State(state): State<AppState>, ctx: Ctx) -> WebResult {
    let form = HookForm {
        enabled: Some("on".into()),
        ..Default::default()
    };
    render(&list_page(&state, &ctx, form, FormErrors::new(ctx.lang), None).await?)
}

pub async fn create(State(state): State<AppState>, f: CsrfForm<HookForm>) -> WebResult {
    let (ctx, form) = (f.ctx, f.form);
    match state
        .services
        .create_webhook(&ctx.actor, &form.input())
        .await
    {
        Ok((_, secret)) => {
            let mut p = list_page(
                &state,
                &ctx,
                HookForm::default(),
                FormErrors::new(ctx.lang),
                Some(secret.expose().clone()),
            )
            .await?;
            p.page = p.page.with_flash("webhooks.flash_made");
            render_status(StatusCode::CREATED, &p)
        }
        Err(e) => {
            let errors = FormErrors::from_service(ctx.lang, e)?;
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &list_page(&state, &ctx, form, errors, None).await?,
            )
        }
    }
}

pub async fn show(State(state): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> WebResult {
    render(&one_page(&state, &ctx, &id, None, FormErrors::new(ctx.lang), None).await?)
}

pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    f: CsrfForm<HookForm>,
) -> WebResult {
    let (ctx, form) = (f.ctx, f.form);
    match state
        .services
        .update_webhook(&ctx.actor, &id, &form.input())
        .await
    {
        Ok(_) => {
            let mut p = one_page(&state, &ctx, &id, None, FormErrors::new(ctx.lang), None).await?;
            p.page = p.page.with_flash("webhooks.flash_saved");
            render(&p)
        }
        Err(e) => {
            let errors = FormErrors::from_service(ctx.lang, e)?;
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &one_page(&state, &ctx, &id, Some(form), errors, None).await?,
            )
        }
    }
}

pub async fn rotate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    f: CsrfForm<serde::de::IgnoredAny>,
) -> WebResult {
    let ctx = f.ctx;
    let (_, secret) = state
        .services
        .rotate_webhook_secret(&ctx.actor, &id)
        .await?;
    let mut p = one_page(
        &state,
        &ctx,
        &id,
        None,
        FormErrors::new(ctx.lang),
        Some(secret.expose().clone()),
    )
    .await?;
    p.page = p.page.with_flash("webhooks.flash_rotated");
    render(&p)
}

pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    f: CsrfForm<serde::de::IgnoredAny>,
) -> WebResult {
    state.services.delete_webhook(&f.ctx.actor, &id).await?;
    Ok(Redirect::to("/settings/webhooks").into_response())
}

pub async fn test(
    State(state): State<AppState>,
    Path(id): Path<String>,
    f: CsrfForm<serde::de::IgnoredAny>,
) -> WebResult {
    let ctx = f.ctx;
    state.services.test_webhook(&ctx.actor, &id).await?;
    let mut p = one_page(&state, &ctx, &id, None, FormErrors::new(ctx.lang), None).await?;
    p.page = p.page.with_flash("webhooks.flash_test");
    render_status(StatusCode::ACCEPTED, &p)
}

pub async fn redeliver(
    State(state): State<AppState>,
    Path((id, delivery)): Path<(String, String)>,
    f: CsrfForm<serde::de::IgnoredAny>,
) -> WebResult {
    let ctx = f.ctx;
    state
        .services
        .redeliver_webhook(&ctx.actor, &id, &delivery)
        .await?;
    let mut p = one_page(&state, &ctx, &id, None, FormErrors::new(ctx.lang), None).await?;
    p.page = p.page.with_flash("webhooks.flash_redelivered");
    render_status(StatusCode::ACCEPTED, &p)
}
